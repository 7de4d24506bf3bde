/**
 * Scene: an L7 split. sleep sends 100 requests to the `hello` Service; demo's namespace sends its services
 * through its waypoint, which picks a version per request as the HTTPRoute demo/hello says (90/10). The
 * evidence: which pod answered each request (the echo server reports its own address) and the waypoint's
 * access log.
 */
import { findWorkloads } from './cast.js';
import { DemoError, expectEqual } from './errors.js';
import { castMember, type Scene } from './scene.js';
import { DEMO_WAYPOINT, waypointAccessLine } from './waypoint-log.js';

/** deploy/examples/local-mesh.yaml: the hello Service's cluster IP and the route splitting it. */
export const HELLO_VIP = '10.96.0.40';
const REQUESTS = 100;

export const splitScene: Scene = {
  title: `An L7 split through the waypoint: ${REQUESTS} requests to hello, HTTPRoute demo/hello 90/10`,
  async run(ctx) {
    const { mesh, out } = ctx;
    const sleep = castMember(ctx, 'sleep');
    const versions = await findWorkloads(mesh, 'demo', 'hello');
    const byIp = new Map(versions.map((w) => [w.ip, w]));
    // One curl, one keep-alive connection, 100 requests: the waypoint chooses per request, not per connection.
    const url = `http://${HELLO_VIP}/hello/[1-${REQUESTS}]`;
    out(`${sleep.app} (${sleep.node}) runs: curl ${url}   (${REQUESTS} GETs on one connection)`);
    const r = await mesh.exec(sleep.pod, 'curl', ['-s', '--max-time', '60', '-w', '\\n%{http_code}\\n', url], { timeoutMs: 90_000 });
    const lines = r.stdout.trim().split('\n');
    const counts = new Map<string, number>(versions.map((w) => [w.pod, 0]));
    for (let i = 0; i + 1 < lines.length; i += 2) {
      expectEqual(`the status of request ${i / 2 + 1}`, lines[i + 1], '200');
      const served = byIp.get(String((JSON.parse(lines[i]!) as { localAddress?: unknown }).localAddress));
      if (served === undefined) throw new DemoError('DEMO_ERR_SCENE', `request ${i / 2 + 1} was answered by an unknown pod: ${lines[i]!}`);
      counts.set(served.pod, counts.get(served.pod)! + 1);
    }
    expectEqual('the number of answers', lines.length / 2, REQUESTS);
    const v1 = versions.find((w) => w.version === 'v1')!;
    const v2 = versions.find((w) => w.version === 'v2')!;
    const n1 = counts.get(v1.pod)!;
    const n2 = counts.get(v2.pod)!;
    // 90/10 over 100 requests: v1 below 75 or v2 absent would be five standard deviations off.
    if (n1 < 75 || n2 === 0) throw new DemoError('DEMO_ERR_SCENE', `the split was ${n1}/${n2}, not near 90/10`);
    for (const w of [v1, v2]) {
      const n = counts.get(w.pod)!;
      out(`   hello ${w.version ?? '?'}  ${w.pod} (${w.node}, ${w.ip}): ${String(n).padStart(3)} ${'█'.repeat(Math.round(n / 2))}`);
    }
    const line = await waypointAccessLine(mesh, 'GET', '/hello/1', sleep.ip);
    expectEqual("the waypoint's src.identity", line['src.identity'], sleep.identity);
    out(`waypoint ${DEMO_WAYPOINT.namespace}/${DEMO_WAYPOINT.gateway}: GET /hello/1 ${String(line['status'])} via ${String(line['cluster'])} → ${String(line['upstream'])}`);
    out(`         from ${String(line['src.identity'])} (proven in mutual TLS by sleep's ztunnel), route ${String(line['route'])}`);
  },
};
