/**
 * What both proxies read from the environment the same way: the default control-plane address, the
 * cluster id (ISTIO_META_CLUSTER_ID first), the trust domain, and the drain deadline from the grace period.
 */
import test from 'ava';
import { EnvReader } from '../src/config/index.js';
import {
  DEFAULT_CONNECTION_TERMINATION_DEADLINE_MS,
  DEFAULT_XDS_ADDRESS_IN_CLUSTER,
  DEFAULT_XDS_ADDRESS_OUTSIDE_CLUSTER,
  LOG_LEVELS,
  defaultControlPlaneAddress,
  drainDeadlineFromGrace,
  readClusterId,
  readDrainDeadline,
  readTrustDomain,
} from '../src/process/index.js';

test('the default control plane: istiod in a cluster, localhost outside', (t) => {
  t.is(defaultControlPlaneAddress({}), DEFAULT_XDS_ADDRESS_OUTSIDE_CLUSTER);
  t.is(defaultControlPlaneAddress({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }), DEFAULT_XDS_ADDRESS_IN_CLUSTER);
  t.is(DEFAULT_XDS_ADDRESS_IN_CLUSTER, 'istiod.istio-system.svc:15012');
});

test('cluster id: Kubernetes by default; ISTIO_META_CLUSTER_ID wins and is the one named when bad', (t) => {
  t.is(readClusterId(new EnvReader({})), 'Kubernetes');
  t.is(readClusterId(new EnvReader({ CLUSTER_ID: 'east' })), 'east');
  t.is(readClusterId(new EnvReader({ CLUSTER_ID: 'east', ISTIO_META_CLUSTER_ID: 'west' })), 'west');
  const env = new EnvReader({ CLUSTER_ID: 'fine', ISTIO_META_CLUSTER_ID: '' });
  readClusterId(env);
  t.deepEqual(env.problems, ['ISTIO_META_CLUSTER_ID=: must be non-empty and without "/" (it is part of workload uids)']);
  const slash = new EnvReader({ CLUSTER_ID: 'a/b' });
  readClusterId(slash);
  t.deepEqual(slash.problems, ['CLUSTER_ID=a/b: must be non-empty and without "/" (it is part of workload uids)']);
});

test('trust domain: cluster.local by default; a bad one is refused with the SPIFFE reason and marked invalid', (t) => {
  t.deepEqual(readTrustDomain(new EnvReader({})), { trustDomain: 'cluster.local', valid: true });
  t.deepEqual(readTrustDomain(new EnvReader({ TRUST_DOMAIN: 'example.org' })), { trustDomain: 'example.org', valid: true });
  const env = new EnvReader({ TRUST_DOMAIN: 'Cluster.Local' });
  t.deepEqual(readTrustDomain(env), { trustDomain: 'Cluster.Local', valid: false });
  t.deepEqual(env.problems, ['TRUST_DOMAIN=Cluster.Local: trust domain "Cluster.Local" may hold only a-z, 0-9, ".", "-" and "_"']);
});

test('drain deadline: grace − 5 s, or − 1 s when ≤ 10 s, at least 1 s', (t) => {
  t.is(drainDeadlineFromGrace(30), 25_000);
  t.is(drainDeadlineFromGrace(11), 6_000);
  t.is(drainDeadlineFromGrace(10), 9_000);
  t.is(drainDeadlineFromGrace(2), 1_000);
  t.is(drainDeadlineFromGrace(0), 1_000);
});

test('readDrainDeadline: 5 s by default, from the grace period, CONNECTION_TERMINATION_DEADLINE wins', (t) => {
  const read = (vars: Record<string, string>, positive = false): unknown => readDrainDeadline(new EnvReader(vars), { positive });
  t.deepEqual(read({}), { terminationGracePeriodSeconds: undefined, drainDeadlineMs: DEFAULT_CONNECTION_TERMINATION_DEADLINE_MS });
  t.deepEqual(read({ TERMINATION_GRACE_PERIOD_SECONDS: '30' }), { terminationGracePeriodSeconds: 30, drainDeadlineMs: 25_000 });
  t.deepEqual(read({ TERMINATION_GRACE_PERIOD_SECONDS: '30', CONNECTION_TERMINATION_DEADLINE: '7s' }), { terminationGracePeriodSeconds: 30, drainDeadlineMs: 7_000 });
  t.deepEqual(read({ CONNECTION_TERMINATION_DEADLINE: '1500ms' }), { terminationGracePeriodSeconds: undefined, drainDeadlineMs: 1_500 });
  t.deepEqual(read({ CONNECTION_TERMINATION_DEADLINE: '0' }), { terminationGracePeriodSeconds: undefined, drainDeadlineMs: 0 }, 'zero: cut at once');
});

test('readDrainDeadline refuses a bad grace period, a bad deadline, and with positive a zero deadline', (t) => {
  const problems = (vars: Record<string, string>, positive: boolean): readonly string[] => {
    const env = new EnvReader(vars);
    readDrainDeadline(env, { positive });
    return env.problems;
  };
  t.deepEqual(problems({ TERMINATION_GRACE_PERIOD_SECONDS: '-3' }, false), ['TERMINATION_GRACE_PERIOD_SECONDS=-3: not a whole number']);
  t.deepEqual(problems({ TERMINATION_GRACE_PERIOD_SECONDS: '86401' }, false), ['TERMINATION_GRACE_PERIOD_SECONDS=86401: out of range 0-86400']);
  t.deepEqual(problems({ CONNECTION_TERMINATION_DEADLINE: 'soon' }, false), [
    'CONNECTION_TERMINATION_DEADLINE=soon: not a duration (want e.g. 30s, 5m, 1h30m or a number of seconds)',
  ]);
  t.deepEqual(problems({ CONNECTION_TERMINATION_DEADLINE: '0' }, true), ['CONNECTION_TERMINATION_DEADLINE=0: must be longer than zero']);
  t.deepEqual(problems({ CONNECTION_TERMINATION_DEADLINE: '0' }, false), []);
});

test('log levels are pino’s, frozen', (t) => {
  t.deepEqual([...LOG_LEVELS], ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);
  t.true(Object.isFrozen(LOG_LEVELS));
});
