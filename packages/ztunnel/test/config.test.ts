import test from 'ava';
import { DEFAULT_XDS_ADDRESS_IN_CLUSTER, DEFAULT_XDS_ADDRESS_OUTSIDE_CLUSTER } from '@ambit/mesh-core/process';
import { DEFAULT_PORTS, parseConfig, type Config } from '../src/config.js';
import { parseDuration, parseServerAddress } from '../src/config-parse.js';
import { ConfigError } from '../src/errors.js';

/** What a ztunnel pod's downward API provides. */
const POD = { NODE_NAME: 'node-a', POD_NAME: 'ztunnel-x7k2p', POD_NAMESPACE: 'istio-system', INSTANCE_IP: '10.244.1.2' };

function problems(env: Record<string, string>): readonly string[] {
  const err = (() => {
    try {
      parseConfig(env);
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  if (!(err instanceof ConfigError)) throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
  return err.problems;
}

test('defaults outside a cluster, frozen', (t) => {
  const config = parseConfig(POD);
  const expected: Config = {
    xdsAddress: DEFAULT_XDS_ADDRESS_OUTSIDE_CLUSTER,
    caAddress: DEFAULT_XDS_ADDRESS_OUTSIDE_CLUSTER,
    xdsRootCaPath: './var/run/secrets/istio/root-cert.pem',
    caRootCaPath: './var/run/secrets/istio/root-cert.pem',
    altXdsHostname: undefined,
    altCaHostname: undefined,
    authTokenPath: './var/run/secrets/tokens/istio-token',
    clusterId: 'Kubernetes',
    trustDomain: 'cluster.local',
    network: '',
    nodeName: 'node-a',
    podName: 'ztunnel-x7k2p',
    podNamespace: 'istio-system',
    instanceIp: '10.244.1.2',
    secretTtlMs: 86_400_000,
    packetMark: 0x539,
    ports: { outbound: 15001, inboundPlaintext: 15006, inbound: 15008, admin: 15000, stats: 15020, readiness: 15021 },
    terminationGracePeriodSeconds: undefined,
    drainDeadlineMs: 5000,
    poolMaxStreamsPerConnection: 100,
    poolUnusedReleaseTimeoutMs: 300_000,
    http2: { streamWindowSize: 4 * 1024 * 1024, connectionWindowSize: 16 * 1024 * 1024, frameSize: 1024 * 1024 },
    workerThreads: 1,
    logLevel: 'info',
    localXdsPath: undefined,
  };
  t.deepEqual(config, expected);
  t.true(Object.isFrozen(config));
  t.true(Object.isFrozen(config.http2));
  t.true(Object.isFrozen(config.ports));
  t.is(config.ports, DEFAULT_PORTS);
  t.is(parseConfig({ ...POD, KUBERNETES_SERVICE_HOST: '10.96.0.1' }).xdsAddress, DEFAULT_XDS_ADDRESS_IN_CLUSTER);
});

test('every variable is read', (t) => {
  const config = parseConfig({
    ...POD,
    XDS_ADDRESS: 'https://istiod.istio-system.svc:15012',
    CA_ADDRESS: '[fd00::1]:15012',
    XDS_ROOT_CA: '/etc/xds-root.pem',
    CA_ROOT_CA: '/etc/ca-root.pem',
    ALT_XDS_HOSTNAME: 'istiod.istio-system.svc',
    ALT_CA_HOSTNAME: 'ca.example.org',
    AUTH_TOKEN: '/var/run/token',
    CLUSTER_ID: 'east',
    TRUST_DOMAIN: 'example.org',
    NETWORK: 'net-1',
    SECRET_TTL: '12h',
    PACKET_MARK: '0x400',
    TERMINATION_GRACE_PERIOD_SECONDS: '30',
    POOL_MAX_STREAMS_PER_CONNECTION: '50',
    POOL_UNUSED_RELEASE_TIMEOUT: '90s',
    HTTP2_STREAM_WINDOW_SIZE: '1048576',
    HTTP2_CONNECTION_WINDOW_SIZE: '8388608',
    HTTP2_FRAME_SIZE: '16384',
    ZTUNNEL_WORKER_THREADS: '2',
    LOG_LEVEL: 'debug',
    LOCAL_XDS_PATH: '/etc/ztunnel/local.yaml',
  });
  t.like(config, {
    xdsAddress: 'istiod.istio-system.svc:15012',
    caAddress: '[fd00::1]:15012',
    xdsRootCaPath: '/etc/xds-root.pem',
    caRootCaPath: '/etc/ca-root.pem',
    altXdsHostname: 'istiod.istio-system.svc',
    altCaHostname: 'ca.example.org',
    authTokenPath: '/var/run/token',
    clusterId: 'east',
    trustDomain: 'example.org',
    network: 'net-1',
    secretTtlMs: 12 * 3_600_000,
    packetMark: 0x400,
    terminationGracePeriodSeconds: 30,
    drainDeadlineMs: 25_000,
    poolMaxStreamsPerConnection: 50,
    poolUnusedReleaseTimeoutMs: 90_000,
    http2: { streamWindowSize: 1_048_576, connectionWindowSize: 8_388_608, frameSize: 16_384 },
    workerThreads: 2,
    logLevel: 'debug',
    localXdsPath: '/etc/ztunnel/local.yaml',
  });
  t.is(parseConfig({ ...POD, PACKET_MARK: '1337' }).packetMark, 0x539);
  t.is(parseConfig({ ...POD, CLUSTER_ID: 'a', ISTIO_META_CLUSTER_ID: 'b' }).clusterId, 'b', 'ISTIO_META_CLUSTER_ID wins');
});

test('drain deadline: grace − 5 s, or − 1 s when ≤ 10 s, at least 1 s; CONNECTION_TERMINATION_DEADLINE wins', (t) => {
  t.is(parseConfig({ ...POD, TERMINATION_GRACE_PERIOD_SECONDS: '30' }).drainDeadlineMs, 25_000);
  t.is(parseConfig({ ...POD, TERMINATION_GRACE_PERIOD_SECONDS: '10' }).drainDeadlineMs, 9_000);
  t.is(parseConfig({ ...POD, TERMINATION_GRACE_PERIOD_SECONDS: '30', CONNECTION_TERMINATION_DEADLINE: '7s' }).drainDeadlineMs, 7_000);
  t.is(parseConfig({ ...POD, CONNECTION_TERMINATION_DEADLINE: '1500ms' }).drainDeadlineMs, 1_500);
});

test('local mode: no control plane needs no pod identity', (t) => {
  const config = parseConfig({ XDS_ADDRESS: '', CA_ADDRESS: '', LOCAL_XDS_PATH: 'local.yaml' });
  t.is(config.xdsAddress, undefined);
  t.is(config.caAddress, undefined);
  t.is(config.nodeName, '');
  t.is(config.podName, '');
  t.is(config.localXdsPath, 'local.yaml');
});

test('every problem is reported at once as VAR=value: reason', (t) => {
  const found = problems({
    XDS_ADDRESS: 'http://istiod:15012',
    CA_ADDRESS: 'istiod',
    XDS_ROOT_CA: ' ',
    CLUSTER_ID: 'a/b',
    TRUST_DOMAIN: 'Cluster.Local',
    POD_NAMESPACE: 'Istio_System',
    POD_NAME: 'zt~1',
    INSTANCE_IP: '10.0.0',
    SECRET_TTL: 'forever',
    PACKET_MARK: '0x',
    TERMINATION_GRACE_PERIOD_SECONDS: '-3',
    POOL_MAX_STREAMS_PER_CONNECTION: '0',
    POOL_UNUSED_RELEASE_TIMEOUT: '0s',
    HTTP2_STREAM_WINDOW_SIZE: '1k',
    HTTP2_CONNECTION_WINDOW_SIZE: '4294967296',
    HTTP2_FRAME_SIZE: '1024',
    ZTUNNEL_WORKER_THREADS: '0',
    LOG_LEVEL: 'verbose',
    LOCAL_XDS_PATH: '',
    ALT_XDS_HOSTNAME: 'istiod_1',
  });
  t.deepEqual(found, [
    'XDS_ADDRESS=http://istiod:15012: plaintext http:// is not allowed; the control plane is reached over TLS (https://)',
    'CA_ADDRESS=istiod: not host:port (an IPv6 address as [addr]:port)',
    'LOCAL_XDS_PATH=: empty; unset it or name a YAML file',
    'CLUSTER_ID=a/b: must be non-empty and without "/" (it is part of workload uids)',
    'TRUST_DOMAIN=Cluster.Local: trust domain "Cluster.Local" may hold only a-z, 0-9, ".", "-" and "_"',
    'NODE_NAME (unset): required with a control plane (XDS_ADDRESS): it identifies this ztunnel',
    'POD_NAME=zt~1: must not contain "~" (it is part of the xDS node id)',
    'POD_NAMESPACE=Istio_System: not a Kubernetes namespace name',
    'INSTANCE_IP=10.0.0: not an IP address',
    'PACKET_MARK=0x: want a mark 1-4294967295, decimal or 0x-prefixed hex',
    'TERMINATION_GRACE_PERIOD_SECONDS=-3: not a whole number',
    'ALT_XDS_HOSTNAME=istiod_1: not a DNS name',
    'XDS_ROOT_CA= : empty',
    'SECRET_TTL=forever: not a duration (want e.g. 30s, 5m, 1h30m or a number of seconds)',
    'POOL_MAX_STREAMS_PER_CONNECTION=0: out of range 1-65535',
    'POOL_UNUSED_RELEASE_TIMEOUT=0s: must be longer than zero',
    'HTTP2_STREAM_WINDOW_SIZE=1k: not a whole number',
    'HTTP2_CONNECTION_WINDOW_SIZE=4294967296: out of range 65535-2147483647',
    'HTTP2_FRAME_SIZE=1024: out of range 16384-16777215',
    'ZTUNNEL_WORKER_THREADS=0: out of range 1-1024',
    'LOG_LEVEL=verbose: want one of trace, debug, info, warn, error, fatal, silent',
  ]);
  const err = t.throws(() => parseConfig({ LOG_LEVEL: 'loud', ...POD }), { instanceOf: ConfigError });
  t.is(err.code, 'ZT_ERR_CONFIG');
  t.is(err.message, 'invalid configuration: LOG_LEVEL=loud: want one of trace, debug, info, warn, error, fatal, silent');
});

test('the remaining single problems', (t) => {
  t.deepEqual(problems({ ...POD, XDS_ADDRESS: '' }), ['XDS_ADDRESS=: no control plane and no LOCAL_XDS_PATH: ztunnel would have no configuration']);
  t.deepEqual(problems({ XDS_ADDRESS: 'localhost:15012' }), [
    'NODE_NAME (unset): required with a control plane (XDS_ADDRESS): it identifies this ztunnel',
    'POD_NAME (unset): required with a control plane (XDS_ADDRESS): it identifies this ztunnel',
    'POD_NAMESPACE (unset): required with a control plane (XDS_ADDRESS): it identifies this ztunnel',
    'INSTANCE_IP (unset): required with a control plane (XDS_ADDRESS): it identifies this ztunnel',
  ]);
  t.deepEqual(problems({ ...POD, ISTIO_META_CLUSTER_ID: '' }), ['ISTIO_META_CLUSTER_ID=: must be non-empty and without "/" (it is part of workload uids)']);
  t.deepEqual(problems({ ...POD, AUTH_TOKEN: '' }), ['AUTH_TOKEN=: empty']);
  t.deepEqual(problems({ ...POD, CA_ROOT_CA: '' }), ['CA_ROOT_CA=: empty']);
  t.deepEqual(problems({ ...POD, CONNECTION_TERMINATION_DEADLINE: 'soon' }), [
    'CONNECTION_TERMINATION_DEADLINE=soon: not a duration (want e.g. 30s, 5m, 1h30m or a number of seconds)',
  ]);
  t.deepEqual(problems({ ...POD, SECRET_TTL: '0' }), ['SECRET_TTL=0: must be longer than zero']);
  t.deepEqual(problems({ ...POD, PACKET_MARK: '0' }), ['PACKET_MARK=0: want a mark 1-4294967295, decimal or 0x-prefixed hex']);
  t.deepEqual(problems({ ...POD, PACKET_MARK: '0x100000000' }), ['PACKET_MARK=0x100000000: want a mark 1-4294967295, decimal or 0x-prefixed hex']);
  t.deepEqual(problems({ ...POD, TERMINATION_GRACE_PERIOD_SECONDS: '100000' }), ['TERMINATION_GRACE_PERIOD_SECONDS=100000: out of range 0-86400']);
  t.deepEqual(problems({ ...POD, NODE_NAME: '' }), ['NODE_NAME=: required with a control plane (XDS_ADDRESS): it identifies this ztunnel']);
});

test('server addresses: https://, host:port, [v6]:port; everything else refused with the reason', (t) => {
  t.is(parseServerAddress('https://istiod.istio-system.svc:15012'), 'istiod.istio-system.svc:15012');
  t.is(parseServerAddress('https://istiod:15012/'), 'istiod:15012');
  t.is(parseServerAddress('10.96.0.10:15012'), '10.96.0.10:15012');
  t.is(parseServerAddress('[fd00::1]:15012'), '[fd00::1]:15012');
  t.deepEqual(parseServerAddress('grpc://istiod:15012'), { reason: 'unsupported scheme grpc:// (want https://host:port or host:port)' });
  t.deepEqual(parseServerAddress('istiod:0'), { reason: 'port 0 is out of range 1-65535' });
  t.deepEqual(parseServerAddress('istiod:70000'), { reason: 'port 70000 is out of range 1-65535' });
  t.deepEqual(parseServerAddress('[istiod]:15012'), { reason: 'istiod is not an IPv6 address' });
  t.deepEqual(parseServerAddress('bad_host!:15012'), { reason: 'bad_host! is neither an IP address nor a host name' });
  t.deepEqual(parseServerAddress('fd00::1:15012'), { reason: 'not host:port (an IPv6 address as [addr]:port)' });
});

test('durations', (t) => {
  t.is(parseDuration('30s'), 30_000);
  t.is(parseDuration('5m'), 300_000);
  t.is(parseDuration('1h30m'), 5_400_000);
  t.is(parseDuration('250ms'), 250);
  t.is(parseDuration('1.5h'), 5_400_000);
  t.is(parseDuration('2d'), 172_800_000);
  t.is(parseDuration('45'), 45_000);
  t.is(parseDuration(''), 'empty; want a duration such as 30s, 5m or 1h30m');
  t.is(parseDuration('5 m'), 'not a duration (want e.g. 30s, 5m, 1h30m or a number of seconds)');
  t.is(parseDuration('-5s'), 'not a duration (want e.g. 30s, 5m, 1h30m or a number of seconds)');
  t.is(parseDuration('5mx'), 'not a duration (want e.g. 30s, 5m, 1h30m or a number of seconds)');
});
