import test from 'ava';
import { backend, binding, BINDING, cluster, forwardTo, get, httpChain, prefix, route, snapshot, startWaypoint, vhost } from './helpers/fixtures.js';

test('HTTP/1.1 through the waypoint: routed, forwarded over HBONE with XFF, request id and a new span', async (t) => {
  const b = await backend(t, (_req, res) => res.end('hello'));
  const snap = snapshot({ [BINDING]: binding(httpChain([vhost('svc', ['svc.default.svc.cluster.local'], [route('r1', prefix('/'), forwardTo('c1'))])])) }, [cluster('c1', [b.endpoint])]);
  const w = await startWaypoint(t, snap);
  const r = await get(w, '/a/./b/../c?x=1', { headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
  t.is(r.status, 200);
  t.is(r.body, 'hello');
  const seen = b.requests[0]!;
  t.is(seen.url, '/a/c?x=1');
  t.is(seen.headers['x-forwarded-for'], '10.1.1.1');
  t.truthy(seen.headers['x-request-id']);
  t.regex(String(seen.headers['traceparent']), /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
  t.not(String(seen.headers['traceparent']).split('-')[2], 'b7ad6b7169203331');
});
