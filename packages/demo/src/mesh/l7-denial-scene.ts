/**
 * Scene: an L7 denial. demo/hello-read-only denies every method but GET and HEAD on hello, an HTTP
 * attribute only the waypoint sees: sleep's POST is answered 403 `RBAC: access denied` by the waypoint,
 * whose access log names the policy rule; hello never sees it. A GET on the same connection still passes.
 */
import { expectEqual } from './errors.js';
import { castMember, type Scene } from './scene.js';
import { HELLO_VIP } from './split-scene.js';
import { DEMO_WAYPOINT, waypointAccessLine } from './waypoint-log.js';

const POLICY = 'demo/hello-read-only';

export const l7DenialScene: Scene = {
  title: `An L7 denial at the waypoint: ${POLICY}`,
  async run(ctx) {
    const { mesh, out } = ctx;
    const sleep = castMember(ctx, 'sleep');
    const url = `http://${HELLO_VIP}/hello/orders`;
    out(`${sleep.app} (${sleep.node}) runs: POST ${url}`);
    // Then a GET on the same connection (curl --next reuses it): a denial ends the request, not the connection.
    const each = ['-s', '--max-time', '10', '-w', '\n%{http_code}\n'];
    const r = await mesh.exec(sleep.pod, 'curl', [...each, '-X', 'POST', '-d', 'order=1', url, '--next', ...each, url], { timeoutMs: 15_000 });
    const [deniedBody, deniedStatus, , allowedStatus] = r.stdout.split('\n');
    expectEqual('the answer to the POST', `${deniedStatus} ${deniedBody}`, '403 RBAC: access denied');
    expectEqual('the answer to the GET that followed', allowedStatus, '200');
    const line = await waypointAccessLine(mesh, 'POST', '/hello/orders', sleep.ip);
    expectEqual("the waypoint's reason", line['details'], 'rbac_access_denied_matched_policy[ns[demo]-policy[hello-read-only]-rule[0]]');
    expectEqual('the upstream of the denied request', line['upstream'], undefined);
    out(`   └─▶ ${deniedStatus} ${deniedBody}   (answered by the waypoint: hello never saw the request)`);
    out(`waypoint ${DEMO_WAYPOINT.namespace}/${DEMO_WAYPOINT.gateway}: POST /hello/orders ${String(line['status'])} ${String(line['details'])}`);
    out(`         src.identity ${String(line['src.identity'])}: the method is an HTTP attribute, so only the waypoint can enforce it`);
    out(`then GET ${url}: ${allowedStatus} (the policy denies writes only)`);
  },
};
