/**
 * Envoy configuration to L7 decisions, all real: a delta ADS server on loopback serves a Listener (JWT and
 * RBAC filters), a RouteConfiguration, a Cluster and its ClusterLoadAssignment; the real XdsClient,
 * WaypointXdsUpdater and WaypointSnapshotBuilder compile them; the running Waypoint (the data path) takes
 * the builder as its snapshot source; requests go through an HBONE tunnel as a client ztunnel sends them.
 */
import test, { type ExecutionContext } from 'ava';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { HboneClient } from '@ambit/mesh-core/hbone';
import { XdsClient } from '@ambit/xds';
import { Waypoint, type SnapshotSource } from '../src/index.js';
import { CLUSTER_LOAD_ASSIGNMENT_TYPE_URL, CLUSTER_TYPE_URL, LISTENER_TYPE_URL, ROUTE_CONFIGURATION_TYPE_URL, WaypointSnapshotBuilder } from '../src/config/snapshot-builder.js';
import type { WaypointSnapshot } from '../src/config/types.js';
import { WaypointXdsUpdater } from '../src/config/xds-updater.js';
import { MiniAdsServer } from './support/ads-server.js';
import { any, encode, T } from './support/envoy.js';
import { chainMatch, edsCluster, hcm, LISTENER, loadAssignment } from './support/fixtures.js';
import { backend, BINDING, clientId, get, pki, silent, TD, waypointId, type Running } from './helpers/fixtures.js';

const ISSUER = 'https://issuer.example';
const CHAIN = 'inbound-vip|80|http|svc.default.svc.cluster.local';
const CLUSTER = 'outbound|80||svc.default.svc.cluster.local';

function rbac(action: 'ALLOW' | 'DENY', policies: Record<string, { permissions: object[]; principals: object[] }>): object {
  return { name: 'envoy.filters.http.rbac', typed_config: any(T.httpRbac, { rules: { action, policies } }) };
}

const claimGroups = (group: string): object => ({
  metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.claims' }, { key: 'groups' }], value: { list_match: { one_of: { string_match: { exact: group } } } } },
});

function waypointListener(jwks: string, extraDeny: Record<string, { permissions: object[]; principals: object[] }> = {}): object {
  const [ip, port] = BINDING.split(':') as [string, string];
  const jwt = {
    name: 'envoy.filters.http.jwt_authn',
    typed_config: any(T.jwt, {
      providers: { origins: { issuer: ISSUER, audiences: ['svc'], local_jwks: { inline_string: jwks } } },
      rules: [{ match: { prefix: '/' }, requires: { requires_any: { requirements: [{ provider_name: 'origins' }, { allow_missing: {} }] } } }],
    }),
  };
  const deny = rbac('DENY', {
    // Istio's form of `to: paths [/admin*]` with `when: request.auth.claims[groups] notValues [admins]`.
    'ns[default]-policy[admin]-rule[0]': { permissions: [{ url_path: { path: { prefix: '/admin' } } }], principals: [{ not_id: claimGroups('admins') }] },
    'ns[default]-policy[no-mallory]-rule[0]': { permissions: [{ header: { name: 'x-user', string_match: { exact: 'mallory' } } }], principals: [{ any: true }] },
    ...extraDeny,
  });
  const allow = rbac('ALLOW', {
    'ns[default]-policy[clients]-rule[0]': { permissions: [{ any: true }], principals: [{ authenticated: { principal_name: { exact: clientId.uri } } }] },
  });
  return { name: LISTENER, filter_chains: [{ name: CHAIN, filter_chain_match: chainMatch(ip, Number(port), true), filters: [hcm(CHAIN, [jwt, deny, allow])] }] };
}

interface Setup {
  readonly server: MiniAdsServer;
  readonly builder: WaypointSnapshotBuilder;
  readonly running: Running;
  readonly key: CryptoKey;
  readonly jwks: string;
  readonly requests: () => number;
}

async function setup(t: ExecutionContext): Promise<Setup> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] });
  const b = await backend(t, (_req, res) => res.end('ok'), { plain: true });

  const server = await MiniAdsServer.start();
  t.teardown(() => server.close());
  server.set(LISTENER_TYPE_URL, LISTENER, encode(T.listener, waypointListener(jwks)));
  server.set(
    ROUTE_CONFIGURATION_TYPE_URL,
    CHAIN,
    encode(T.route, { name: CHAIN, virtual_hosts: [{ name: 'svc', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: CLUSTER } }] }] }),
  );
  server.set(CLUSTER_TYPE_URL, CLUSTER, encode(T.cluster, edsCluster(CLUSTER)));
  server.set(CLUSTER_LOAD_ASSIGNMENT_TYPE_URL, CLUSTER, encode(T.cla, loadAssignment(CLUSTER, ['127.0.0.1'], b.endpoint.port)));

  const client = new XdsClient({ target: server.target, node: { id: 'waypoint~10.0.0.2~waypoint-1.default~default.svc.cluster.local' } });
  t.teardown(() => client.destroy());
  const builder = new WaypointSnapshotBuilder({ listenerName: LISTENER, identity: waypointId.uri });
  t.teardown(() => builder.destroy());
  const updater = new WaypointXdsUpdater({ client, builder });
  t.teardown(() => updater.destroy());
  const first = new Promise<WaypointSnapshot>((resolve) => builder.once('change', resolve));
  client.start();
  await first;

  const { certs } = await pki();
  // The builder is the data path's snapshot source as it is.
  const snapshots: SnapshotSource = builder;
  const waypoint = await Waypoint.start({
    identity: waypointId,
    trustDomain: TD,
    certificates: certs,
    snapshots,
    logger: silent(),
    listen: { hbone: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 }, stats: { host: '127.0.0.1', port: 0 }, readiness: { host: '127.0.0.1', port: 0 } },
  });
  t.teardown(() => waypoint.destroy());
  const hbone = new HboneClient({ certificates: certs });
  t.teardown(() => hbone.destroy());
  const hbonePort = waypoint.addresses().hbone.port;
  // The fixtures' `get` needs only `tunnel`; `snapshots` here is the builder, not their FixedSnapshots.
  const running = {
    waypoint,
    snapshots,
    client: hbone,
    hbonePort,
    tunnel: (authority = BINDING) => hbone.connect({ source: clientId, destination: `127.0.0.1:${hbonePort}`, expectedIdentities: [waypointId], authority, forwardedFor: '10.1.1.1:5555' }),
  } as unknown as Running;
  return { server, builder, running, key: privateKey, jwks, requests: () => b.requests.length };
}

function token(key: CryptoKey, groups: string[]): Promise<string> {
  return new SignJWT({ groups })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(ISSUER)
    .setSubject('alice')
    .setAudience('svc')
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(key);
}

test('RBAC and JWT compiled from Envoy resources decide real requests; bypass attempts are denied', async (t) => {
  const { running, key, requests } = await setup(t);
  t.is((await get(running, '/hello')).status, 200);
  const denied = await get(running, '/admin/users');
  t.is(denied.status, 403);
  t.is(denied.body, 'RBAC: access denied');
  for (const bypass of ['//admin', '/a/%2e%2e/admin', '/x/../admin', '/%61dmin']) t.is((await get(running, bypass)).status, 403, bypass);
  t.is((await get(running, '/hello', { headers: { 'x-user': ['bob', 'mallory'] } })).status, 403, 'a repeated header does not hide a denied value');
  t.is((await get(running, '/hello', { headers: { 'x-user': 'bob' } })).status, 200);
  const admin = await token(key, ['dev', 'admins']);
  t.is((await get(running, '/admin/users', { headers: { authorization: `Bearer ${admin}` } })).status, 200, 'the claim lets alice in');
  const notAdmin = await token(key, ['dev']);
  t.is((await get(running, '/admin/users', { headers: { authorization: `Bearer ${notAdmin}` } })).status, 403);
  const forged = `${admin.slice(0, admin.lastIndexOf('.'))}.${'A'.repeat(86)}`;
  const bad = await get(running, '/hello', { headers: { authorization: `Bearer ${forged}` } });
  t.is(bad.status, 401);
  t.is(requests(), 3, 'only the allowed requests reached the backend');
});

test('a policy change served over xDS reaches the data path; a bad one is NACKed and the old policy keeps deciding', async (t) => {
  const { server, builder, running, jwks } = await setup(t);
  t.is((await get(running, '/reports')).status, 200);
  const changed = new Promise((resolve) => builder.once('change', resolve));
  server.set(LISTENER_TYPE_URL, LISTENER, encode(T.listener, waypointListener(jwks, { 'ns[default]-policy[reports]-rule[0]': { permissions: [{ url_path: { path: { prefix: '/reports' } } }], principals: [{ any: true }] } })));
  await changed;
  t.is((await get(running, '/reports')).status, 403);
  const nack = new Promise<{ error: string }>((resolve) => server.once('nack', resolve));
  server.set(LISTENER_TYPE_URL, LISTENER, encode(T.listener, waypointListener(jwks, { broken: { permissions: [{ url_path: { path: { safe_regex: { regex: '/(?!public)' } } } }], principals: [{ any: true }] } })));
  t.regex((await nack).error, /policies\["broken"\]\.permissions\[0\]\.url_path\.path\.safe_regex\.regex: look-ahead is not supported/);
  t.is((await get(running, '/reports')).status, 403, 'the last good policy still applies');
  t.is((await get(running, '/hello')).status, 200);
});
