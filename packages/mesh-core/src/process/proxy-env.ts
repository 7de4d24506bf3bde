/**
 * The environment both proxies (ztunnel, waypoint) read the same way, with the names and defaults of
 * ztunnel and istio-agent: where the control plane is by default, the cluster and trust domain they belong
 * to, how long a drain may take, how much to log. Each proxy calls these from its own parser, in its own
 * order (the order problems are listed in), and keeps what is its own (identity variables, ports, local
 * mode) to itself.
 */
import type { Env, EnvReader } from '../config/index.js';
import { DEFAULT_CLUSTER_ID, Identity, IdentityError } from '../identity/index.js';

/** istiod's Service, the default when running in a cluster (`KUBERNETES_SERVICE_HOST` set). */
export const DEFAULT_XDS_ADDRESS_IN_CLUSTER = 'istiod.istio-system.svc:15012';
export const DEFAULT_XDS_ADDRESS_OUTSIDE_CLUSTER = 'localhost:15012';
export const DEFAULT_ROOT_CERT_PATH = './var/run/secrets/istio/root-cert.pem';
export const DEFAULT_AUTH_TOKEN_PATH = './var/run/secrets/tokens/istio-token';
export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
export const DEFAULT_SECRET_TTL_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_CONNECTION_TERMINATION_DEADLINE_MS = 5_000;
export const DEFAULT_LOG_LEVEL = 'info';
/** The longest `TERMINATION_GRACE_PERIOD_SECONDS` taken (a day): beyond it a number is a mistake. */
export const MAX_TERMINATION_GRACE_PERIOD_SECONDS = 86_400;

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = Object.freeze(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

/** The control plane's default address: istiod's Service in a cluster, localhost outside. */
export function defaultControlPlaneAddress(env: Env): string {
  return env['KUBERNETES_SERVICE_HOST'] !== undefined ? DEFAULT_XDS_ADDRESS_IN_CLUSTER : DEFAULT_XDS_ADDRESS_OUTSIDE_CLUSTER;
}

/**
 * `ISTIO_META_CLUSTER_ID` (istio-agent style metadata, which wins) or `CLUSTER_ID`; the one read is the one
 * named when it is refused. Workload uids hold it, so it must be non-empty and free of `/`.
 */
export function readClusterId(env: EnvReader): string {
  const name = env.raw('ISTIO_META_CLUSTER_ID') !== undefined ? 'ISTIO_META_CLUSTER_ID' : 'CLUSTER_ID';
  const clusterId = env.string(name, DEFAULT_CLUSTER_ID);
  if (clusterId === '' || clusterId.includes('/')) env.problem(name, 'must be non-empty and without "/" (it is part of workload uids)');
  return clusterId;
}

/** `TRUST_DOMAIN`, checked as a SPIFFE trust domain; `valid` says whether identities can be built on it. */
export function readTrustDomain(env: EnvReader): { readonly trustDomain: string; readonly valid: boolean } {
  const trustDomain = env.string('TRUST_DOMAIN', DEFAULT_TRUST_DOMAIN);
  try {
    new Identity(trustDomain, 'default', 'default');
    return { trustDomain, valid: true };
  } catch (err) {
    if (!(err instanceof IdentityError)) throw err;
    env.problem('TRUST_DOMAIN', err.detail);
    return { trustDomain, valid: false };
  }
}

/** Grace period minus a margin, so the last seconds before SIGKILL can close what remains cleanly. */
export function drainDeadlineFromGrace(graceSeconds: number): number {
  return Math.max(graceSeconds > 10 ? graceSeconds - 5 : graceSeconds - 1, 1) * 1000;
}

export interface DrainDeadline {
  /** `TERMINATION_GRACE_PERIOD_SECONDS` as given. */
  readonly terminationGracePeriodSeconds: number | undefined;
  /**
   * How long a drain waits before cutting what is left: `CONNECTION_TERMINATION_DEADLINE`, else the grace
   * period minus 5 s (minus 1 s when it is 10 s or less, at least 1 s), else 5 s.
   */
  readonly drainDeadlineMs: number;
}

/**
 * `TERMINATION_GRACE_PERIOD_SECONDS` and `CONNECTION_TERMINATION_DEADLINE`. With `positive`, a zero
 * deadline is refused (the waypoint: requests in flight always get some time); without, zero cuts at once.
 */
export function readDrainDeadline(env: EnvReader, options: { readonly positive: boolean }): DrainDeadline {
  const grace =
    env.raw('TERMINATION_GRACE_PERIOD_SECONDS') !== undefined ? env.integer('TERMINATION_GRACE_PERIOD_SECONDS', -1, 0, MAX_TERMINATION_GRACE_PERIOD_SECONDS) : -1;
  const terminationGracePeriodSeconds = grace >= 0 ? grace : undefined;
  let drainDeadlineMs = terminationGracePeriodSeconds !== undefined ? drainDeadlineFromGrace(terminationGracePeriodSeconds) : DEFAULT_CONNECTION_TERMINATION_DEADLINE_MS;
  if (env.raw('CONNECTION_TERMINATION_DEADLINE') !== undefined) drainDeadlineMs = env.duration('CONNECTION_TERMINATION_DEADLINE', drainDeadlineMs, options.positive);
  return { terminationGracePeriodSeconds, drainDeadlineMs };
}
