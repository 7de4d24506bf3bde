/**
 * Scene: an AuthorizationPolicy at work. notsleep, on the same node as sleep, asks httpbin the same thing;
 * demo/deny-notsleep denies its identity. The destination ztunnel refuses the tunnel (HTTP 401 on the
 * CONNECT), the source ztunnel resets notsleep's connection, and both log why; httpbin never sees it.
 */
import { AppError } from '@ambit/testbed';
import { accessLineFrom } from './access-lines.js';
import { DemoError, expectEqual } from './errors.js';
import { castMember, type Scene } from './scene.js';

/** The policy deploy/examples/local-mesh.yaml defines for this scene. */
const POLICY = 'demo/deny-notsleep';

export const denialScene: Scene = {
  title: `A policy denial: ${POLICY}`,
  async run(ctx) {
    const { mesh, out } = ctx;
    const notsleep = castMember(ctx, 'notsleep');
    const httpbin = castMember(ctx, 'httpbin');
    const url = `http://${httpbin.ip}:8080/get`;
    out(`${notsleep.app} (${notsleep.node}) runs: GET ${url}`);
    let errno: string | undefined;
    try {
      const r = await mesh.cluster.httpGet(notsleep.pod, url);
      throw new DemoError('DEMO_ERR_SCENE', `notsleep's request was answered ${r.status}: ${POLICY} should have denied it`);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      errno = err.errno;
    }
    const inbound = await accessLineFrom(mesh, httpbin.node, 'inbound', notsleep.ip, (r) => r['response_flags'] === 'DENY');
    const outbound = await accessLineFrom(mesh, notsleep.node, 'outbound', notsleep.ip, (r) => r['response_flags'] === 'DENY');
    expectEqual(`${httpbin.node}'s reason`, inbound['error'], `denied by policy ${POLICY}`);
    expectEqual(`${httpbin.node}'s src.identity`, inbound['src.identity'], notsleep.identity);

    out(`   └─▶ the connection was reset (${errno ?? 'error'}); httpbin never saw the request`);
    out(`ztunnel ${httpbin.node}: ${String(inbound['msg'])}: ${String(inbound['src.identity'])} → ${String(inbound['dst.workload'])}`);
    out(`         ${String(inbound['error'])} (the peer proved its identity in mutual TLS, then the policy matched it)`);
    out(`ztunnel ${notsleep.node}: ${String(outbound['msg'])}: ${typeof outbound['error'] === 'string' ? outbound['error'] : 'refused'} [response_flags ${String(outbound['response_flags'])}]`);
  },
};
