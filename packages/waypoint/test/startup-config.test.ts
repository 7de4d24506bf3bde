import test from 'ava';
import { DEFAULT_XDS_ADDRESS_IN_CLUSTER, DEFAULT_XDS_ADDRESS_OUTSIDE_CLUSTER } from '@ambit/mesh-core/process';
import { parseStartupConfig, StartupConfigError, type StartupConfig } from '../src/startup-config.js';

/** What a waypoint pod's downward API and its Deployment provide. */
const POD = { GATEWAY_NAME: 'waypoint', POD_NAME: 'waypoint-5c8d9f7b6-hw9zl', POD_NAMESPACE: 'demo', INSTANCE_IP: '10.244.1.12' };

function problems(env: Record<string, string>): readonly string[] {
  try {
    parseStartupConfig(env);
  } catch (err) {
    if (err instanceof StartupConfigError) return err.problems;
    throw err;
  }
  throw new Error(`expected a StartupConfigError for ${JSON.stringify(env)}`);
}

test('defaults outside a cluster: identity and Listener from the Gateway, frozen', (t) => {
  const config = parseStartupConfig(POD);
  const expected: StartupConfig = {
    xdsAddress: DEFAULT_XDS_ADDRESS_OUTSIDE_CLUSTER,
    caAddress: DEFAULT_XDS_ADDRESS_OUTSIDE_CLUSTER,
    xdsRootCaPath: './var/run/secrets/istio/root-cert.pem',
    caRootCaPath: './var/run/secrets/istio/root-cert.pem',
    altXdsHostname: undefined,
    altCaHostname: undefined,
    authTokenPath: './var/run/secrets/tokens/istio-token',
    clusterId: 'Kubernetes',
    trustDomain: 'cluster.local',
    gatewayName: 'waypoint',
    podName: 'waypoint-5c8d9f7b6-hw9zl',
    podNamespace: 'demo',
    instanceIp: '10.244.1.12',
    identity: 'spiffe://cluster.local/ns/demo/sa/waypoint',
    listenerName: 'waypoint/demo/waypoint',
    secretTtlMs: 86_400_000,
    initialFetchTimeoutMs: 15_000,
    terminationGracePeriodSeconds: undefined,
    drainDeadlineMs: 5000,
    ports: {
      hbone: { host: '0.0.0.0', port: 15008 },
      admin: { host: '127.0.0.1', port: 15000 },
      stats: { host: '0.0.0.0', port: 15020 },
      readiness: { host: '0.0.0.0', port: 15021 },
    },
    logLevel: 'info',
  };
  t.deepEqual(config, expected);
  t.true(Object.isFrozen(config));
  t.true(Object.isFrozen(config.ports));
  t.true(Object.isFrozen(config.ports.hbone));
});

test('in a cluster the control plane defaults to istiod; everything can be set', (t) => {
  t.is(parseStartupConfig({ ...POD, KUBERNETES_SERVICE_HOST: '10.96.0.1' }).xdsAddress, DEFAULT_XDS_ADDRESS_IN_CLUSTER);
  const config = parseStartupConfig({
    ...POD,
    XDS_ADDRESS: 'https://istiod.istio-system.svc:15012/',
    CA_ADDRESS: '[fd00::1]:15012',
    XDS_ROOT_CA: '/etc/root.pem',
    CA_ROOT_CA: '/etc/ca-root.pem',
    ALT_XDS_HOSTNAME: 'istiod.istio-system.svc',
    ALT_CA_HOSTNAME: 'ca.istio-system.svc',
    AUTH_TOKEN: '/var/run/secrets/tokens/istio-token',
    CLUSTER_ID: 'ignored',
    ISTIO_META_CLUSTER_ID: 'east',
    TRUST_DOMAIN: 'example.org',
    SECRET_TTL: '12h',
    INITIAL_FETCH_TIMEOUT: '2s',
    TERMINATION_GRACE_PERIOD_SECONDS: '30',
    HBONE_PORT: '0',
    ADMIN_PORT: '0',
    STATS_PORT: '25020',
    READINESS_PORT: '25021',
    LOG_LEVEL: 'debug',
  });
  t.like(config, {
    xdsAddress: 'istiod.istio-system.svc:15012',
    caAddress: '[fd00::1]:15012',
    xdsRootCaPath: '/etc/root.pem',
    caRootCaPath: '/etc/ca-root.pem',
    altXdsHostname: 'istiod.istio-system.svc',
    altCaHostname: 'ca.istio-system.svc',
    clusterId: 'east',
    trustDomain: 'example.org',
    identity: 'spiffe://example.org/ns/demo/sa/waypoint',
    secretTtlMs: 12 * 3_600_000,
    initialFetchTimeoutMs: 2000,
    terminationGracePeriodSeconds: 30,
    drainDeadlineMs: 25_000,
    logLevel: 'debug',
  });
  t.deepEqual(config.ports, {
    hbone: { host: '0.0.0.0', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    stats: { host: '0.0.0.0', port: 25020 },
    readiness: { host: '0.0.0.0', port: 25021 },
  });
});

test('the drain deadline: grace period minus a margin, or CONNECTION_TERMINATION_DEADLINE', (t) => {
  t.is(parseStartupConfig({ ...POD, TERMINATION_GRACE_PERIOD_SECONDS: '30' }).drainDeadlineMs, 25_000);
  t.is(parseStartupConfig({ ...POD, TERMINATION_GRACE_PERIOD_SECONDS: '30', CONNECTION_TERMINATION_DEADLINE: '3s' }).drainDeadlineMs, 3000);
});

test('the identity needs the Gateway and its namespace; each is named when missing', (t) => {
  t.deepEqual(problems({ POD_NAME: 'w', INSTANCE_IP: '10.0.0.1' }), [
    'GATEWAY_NAME (unset): required: the waypoint Gateway this process serves',
    "POD_NAMESPACE (unset): required: the Gateway's namespace",
  ]);
  t.deepEqual(problems({ GATEWAY_NAME: 'waypoint', POD_NAMESPACE: 'demo' }), [
    'POD_NAME (unset): required: it names this waypoint to the control plane',
    'INSTANCE_IP (unset): required: the pod IP, part of the xDS node id',
  ]);
});

test('every malformed value is refused with its variable, value and reason, all at once', (t) => {
  const found = problems({
    GATEWAY_NAME: 'Way_Point',
    POD_NAMESPACE: 'Demo',
    POD_NAME: 'pod~1',
    INSTANCE_IP: '10.0.0',
    XDS_ADDRESS: 'http://istiod:15012',
    CA_ADDRESS: 'istiod',
    XDS_ROOT_CA: ' ',
    CA_ROOT_CA: '',
    ALT_XDS_HOSTNAME: 'not a name',
    ALT_CA_HOSTNAME: '-bad-',
    AUTH_TOKEN: '',
    CLUSTER_ID: 'a/b',
    TRUST_DOMAIN: 'bad domain',
    SECRET_TTL: '0s',
    INITIAL_FETCH_TIMEOUT: 'soon',
    TERMINATION_GRACE_PERIOD_SECONDS: '-1',
    CONNECTION_TERMINATION_DEADLINE: '0',
    HBONE_PORT: '70000',
    ADMIN_PORT: 'x',
    STATS_PORT: '15021',
    READINESS_PORT: '15021',
    LOG_LEVEL: 'loud',
  });
  t.deepEqual(found, [
    'XDS_ADDRESS=http://istiod:15012: plaintext http:// is not allowed; the control plane is reached over TLS (https://)',
    'CA_ADDRESS=istiod: not host:port (an IPv6 address as [addr]:port)',
    'CLUSTER_ID=a/b: must be non-empty and without "/" (it is part of workload uids)',
    `TRUST_DOMAIN=bad domain: ${found[3]!.slice('TRUST_DOMAIN=bad domain: '.length)}`,
    'GATEWAY_NAME=Way_Point: not a Gateway name usable as a service account (a DNS-1123 label)',
    'POD_NAMESPACE=Demo: not a Kubernetes namespace name',
    'POD_NAME=pod~1: not a pod name (a DNS-1123 subdomain)',
    'INSTANCE_IP=10.0.0: not an IP address',
    'TERMINATION_GRACE_PERIOD_SECONDS=-1: not a whole number',
    'CONNECTION_TERMINATION_DEADLINE=0: must be longer than zero',
    'XDS_ROOT_CA= : empty',
    'CA_ROOT_CA=: empty',
    'ALT_XDS_HOSTNAME=not a name: not a DNS name',
    'ALT_CA_HOSTNAME=-bad-: not a DNS name',
    'AUTH_TOKEN=: empty',
    'SECRET_TTL=0s: must be longer than zero',
    'INITIAL_FETCH_TIMEOUT=soon: not a duration (want e.g. 30s, 5m, 1h30m or a number of seconds)',
    'HBONE_PORT=70000: out of range 0-65535',
    'ADMIN_PORT=x: not a whole number',
    'READINESS_PORT=15021: port 15021 is also STATS_PORT',
    'LOG_LEVEL=loud: want one of trace, debug, info, warn, error, fatal, silent',
  ]);
  t.true(found[3]!.length > 'TRUST_DOMAIN=bad domain: '.length, 'the trust domain is refused with a reason');
});

test('an empty control-plane or CA address is refused (the waypoint has no local mode)', (t) => {
  t.deepEqual(problems({ ...POD, XDS_ADDRESS: '', CA_ADDRESS: ' ' }), [
    'XDS_ADDRESS=: empty; the waypoint has no configuration and no certificate without a control plane',
    'CA_ADDRESS= : empty; the waypoint has no configuration and no certificate without a control plane',
  ]);
});

test('one problem reads as one sentence, several as a list; the code is stable', (t) => {
  const one = t.throws(() => parseStartupConfig({ ...POD, LOG_LEVEL: 'x' }), { instanceOf: StartupConfigError });
  t.is(one.code, 'WP_ERR_STARTUP_CONFIG');
  t.is(one.message, 'invalid configuration: LOG_LEVEL=x: want one of trace, debug, info, warn, error, fatal, silent');
  const two = t.throws(() => parseStartupConfig({ ...POD, LOG_LEVEL: 'x', HBONE_PORT: 'y' }), { instanceOf: StartupConfigError });
  t.is(two.message, '2 configuration problems:\n  HBONE_PORT=y: not a whole number\n  LOG_LEVEL=x: want one of trace, debug, info, warn, error, fatal, silent');
  t.true(Object.isFrozen(two.problems));
});

test('ports: 0 means any (never a collision); the default ports are distinct', (t) => {
  const config = parseStartupConfig({ ...POD, HBONE_PORT: '0', ADMIN_PORT: '0', STATS_PORT: '0', READINESS_PORT: '0' });
  t.deepEqual([config.ports.hbone.port, config.ports.admin.port, config.ports.stats.port, config.ports.readiness.port], [0, 0, 0, 0]);
  t.deepEqual(problems({ ...POD, ADMIN_PORT: '15008' }), ['ADMIN_PORT=15008: port 15008 is also HBONE_PORT']);
});

test('ISTIO_META_CLUSTER_ID wins over CLUSTER_ID and is the one named when bad; the grace period has a ceiling', (t) => {
  t.deepEqual(problems({ ...POD, CLUSTER_ID: 'fine', ISTIO_META_CLUSTER_ID: '' }), ['ISTIO_META_CLUSTER_ID=: must be non-empty and without "/" (it is part of workload uids)']);
  t.deepEqual(problems({ ...POD, TERMINATION_GRACE_PERIOD_SECONDS: '86401' }), ['TERMINATION_GRACE_PERIOD_SECONDS=86401: out of range 0-86400']);
  t.deepEqual(problems({ ...POD, SECRET_TTL: 'a day' }), ['SECRET_TTL=a day: not a duration (want e.g. 30s, 5m, 1h30m or a number of seconds)']);
});
