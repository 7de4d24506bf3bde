/**
 * The waypoint's startup configuration: environment variables read once into one frozen `StartupConfig`,
 * named as ztunnel's and istio-agent's are (a waypoint Deployment written for Istio needs few changes).
 * Every problem is gathered and reported together as `VAR=value: reason` in one `StartupConfigError`.
 *
 * Who the waypoint is comes from its Gateway: `GATEWAY_NAME` and `POD_NAMESPACE` give the Listener it asks
 * the control plane for (`waypoint/<namespace>/<gateway>`) and its identity
 * (`spiffe://<trust domain>/ns/<namespace>/sa/<gateway>`: a waypoint's service account is its Gateway's name).
 */
import { isIP } from 'node:net';
import { EnvConfigError, EnvReader, type Env } from '@ambit/mesh-core/config';
import { Identity } from '@ambit/mesh-core/identity';
import {
  DEFAULT_AUTH_TOKEN_PATH,
  DEFAULT_LOG_LEVEL,
  DEFAULT_ROOT_CERT_PATH,
  DEFAULT_SECRET_TTL_MS,
  LOG_LEVELS,
  defaultControlPlaneAddress,
  readClusterId,
  readDrainDeadline,
  readTrustDomain,
  type LogLevel,
} from '@ambit/mesh-core/process';
import { DEFAULT_INITIAL_FETCH_TIMEOUT_MS } from './config/snapshot-builder.js';

/** Environment variable names. */
export const WAYPOINT_ENV = Object.freeze({
  XDS_ADDRESS: 'XDS_ADDRESS',
  CA_ADDRESS: 'CA_ADDRESS',
  XDS_ROOT_CA: 'XDS_ROOT_CA',
  CA_ROOT_CA: 'CA_ROOT_CA',
  /** The name to verify in the control plane's serving certificate when dialling it by another name or IP. */
  ALT_XDS_HOSTNAME: 'ALT_XDS_HOSTNAME',
  ALT_CA_HOSTNAME: 'ALT_CA_HOSTNAME',
  /** File holding the (projected service-account) token sent to the control plane and the CA. */
  AUTH_TOKEN: 'AUTH_TOKEN',
  CLUSTER_ID: 'CLUSTER_ID',
  /** Wins over CLUSTER_ID (istio-agent style metadata). */
  ISTIO_META_CLUSTER_ID: 'ISTIO_META_CLUSTER_ID',
  TRUST_DOMAIN: 'TRUST_DOMAIN',
  /** The waypoint's Gateway (its service account has the same name). */
  GATEWAY_NAME: 'GATEWAY_NAME',
  POD_NAME: 'POD_NAME',
  POD_NAMESPACE: 'POD_NAMESPACE',
  INSTANCE_IP: 'INSTANCE_IP',
  /** Only chooses the default control-plane address (in-cluster vs localhost). */
  KUBERNETES_SERVICE_HOST: 'KUBERNETES_SERVICE_HOST',
  SECRET_TTL: 'SECRET_TTL',
  /** How long a missing referenced resource holds the snapshot back (Envoy's initial_fetch_timeout). */
  INITIAL_FETCH_TIMEOUT: 'INITIAL_FETCH_TIMEOUT',
  TERMINATION_GRACE_PERIOD_SECONDS: 'TERMINATION_GRACE_PERIOD_SECONDS',
  CONNECTION_TERMINATION_DEADLINE: 'CONNECTION_TERMINATION_DEADLINE',
  HBONE_PORT: 'HBONE_PORT',
  ADMIN_PORT: 'ADMIN_PORT',
  STATS_PORT: 'STATS_PORT',
  READINESS_PORT: 'READINESS_PORT',
  LOG_LEVEL: 'LOG_LEVEL',
});


export interface ListenAddress {
  readonly host: string;
  /** 0: any free port (tests); the bound one is logged and shown by `/config_dump`. */
  readonly port: number;
}

export interface WaypointPorts {
  /** HBONE from ztunnels (mTLS + HTTP/2 CONNECT). */
  readonly hbone: ListenAddress;
  /** Admin, loopback only: `/config_dump`. */
  readonly admin: ListenAddress;
  /** Prometheus: `/metrics`, `/stats/prometheus`. */
  readonly stats: ListenAddress;
  /** `/healthz/ready`. */
  readonly readiness: ListenAddress;
}

export const DEFAULT_PORTS = Object.freeze({ hbone: 15008, admin: 15000, stats: 15020, readiness: 15021 });

export interface StartupConfig {
  /** The control plane (xDS) as a gRPC target `host:port`. */
  readonly xdsAddress: string;
  /** The CA as a gRPC target; defaults to the xDS default. */
  readonly caAddress: string;
  readonly xdsRootCaPath: string;
  readonly caRootCaPath: string;
  readonly altXdsHostname: string | undefined;
  readonly altCaHostname: string | undefined;
  readonly authTokenPath: string;
  readonly clusterId: string;
  readonly trustDomain: string;
  readonly gatewayName: string;
  readonly podName: string;
  readonly podNamespace: string;
  readonly instanceIp: string;
  /** `spiffe://<trust domain>/ns/<namespace>/sa/<gateway>`. */
  readonly identity: string;
  /** The Listener subscribed to: `waypoint/<namespace>/<gateway>`. */
  readonly listenerName: string;
  readonly secretTtlMs: number;
  readonly initialFetchTimeoutMs: number;
  readonly terminationGracePeriodSeconds: number | undefined;
  /**
   * How long a drain lets requests in flight finish: `CONNECTION_TERMINATION_DEADLINE`, else the grace
   * period minus 5 s (minus 1 s when it is 10 s or less, at least 1 s), else 5 s.
   */
  readonly drainDeadlineMs: number;
  readonly ports: WaypointPorts;
  readonly logLevel: LogLevel;
}

/** The environment does not make a valid configuration; `problems` lists every `VAR=value: reason`. */
export class StartupConfigError extends EnvConfigError {
  constructor(problems: readonly string[]) {
    super('WP_ERR_STARTUP_CONFIG', problems);
  }
}

/** Kubernetes namespace and service-account-as-label names: DNS-1123 labels. */
const DNS1123_LABEL_RE = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Object names (a Gateway, a pod): DNS-1123 subdomains. */
const DNS1123_SUBDOMAIN_RE = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The waypoint has no local mode: an empty address is a mistake, not "no control plane". */
function serverAddress(env: EnvReader, name: string, fallback: string): string {
  if (env.raw(name)?.trim() === '') {
    env.problem(name, 'empty; the waypoint has no configuration and no certificate without a control plane');
    return fallback;
  }
  return env.serverAddress(name, fallback);
}

/** A required name matching `re` (`what` words the rejection). */
function requiredName(env: EnvReader, name: string, re: RegExp, what: string, why: string): string {
  const value = env.raw(name);
  if (value === undefined || value === '') {
    env.problem(name, `required: ${why}`);
    return '';
  }
  if (!re.test(value)) env.problem(name, `not ${what}`);
  return value;
}

function ports(env: EnvReader): WaypointPorts {
  const port = (name: string, fallback: number): number => env.integer(name, fallback, 0, 65_535);
  const chosen = {
    hbone: port(WAYPOINT_ENV.HBONE_PORT, DEFAULT_PORTS.hbone),
    admin: port(WAYPOINT_ENV.ADMIN_PORT, DEFAULT_PORTS.admin),
    stats: port(WAYPOINT_ENV.STATS_PORT, DEFAULT_PORTS.stats),
    readiness: port(WAYPOINT_ENV.READINESS_PORT, DEFAULT_PORTS.readiness),
  };
  const names = { hbone: WAYPOINT_ENV.HBONE_PORT, admin: WAYPOINT_ENV.ADMIN_PORT, stats: WAYPOINT_ENV.STATS_PORT, readiness: WAYPOINT_ENV.READINESS_PORT };
  // Admin listens on loopback only, the others on every address: any two fixed ports equal would collide.
  const seen = new Map<number, string>();
  for (const key of ['hbone', 'admin', 'stats', 'readiness'] as const) {
    const p = chosen[key];
    if (p === 0) continue;
    const other = seen.get(p);
    if (other !== undefined) env.problem(names[key], `port ${p} is also ${other}`);
    else seen.set(p, names[key]);
  }
  return Object.freeze({
    hbone: Object.freeze({ host: '0.0.0.0', port: chosen.hbone }),
    admin: Object.freeze({ host: '127.0.0.1', port: chosen.admin }),
    stats: Object.freeze({ host: '0.0.0.0', port: chosen.stats }),
    readiness: Object.freeze({ host: '0.0.0.0', port: chosen.readiness }),
  });
}

/** Reads `envVars` (default `process.env`) into a frozen StartupConfig; throws `StartupConfigError` listing every problem. */
export function parseStartupConfig(envVars: Env = process.env): StartupConfig {
  const env = new EnvReader(envVars);
  const E = WAYPOINT_ENV;
  const defaultAddress = defaultControlPlaneAddress(envVars);
  const xdsAddress = serverAddress(env, E.XDS_ADDRESS, defaultAddress);
  const caAddress = serverAddress(env, E.CA_ADDRESS, defaultAddress);

  const clusterId = readClusterId(env);
  const { trustDomain, valid: trustDomainOk } = readTrustDomain(env);

  const gatewayName = requiredName(env, E.GATEWAY_NAME, DNS1123_LABEL_RE, 'a Gateway name usable as a service account (a DNS-1123 label)', 'the waypoint Gateway this process serves');
  const podNamespace = requiredName(env, E.POD_NAMESPACE, DNS1123_LABEL_RE, 'a Kubernetes namespace name', "the Gateway's namespace");
  const podName = requiredName(env, E.POD_NAME, DNS1123_SUBDOMAIN_RE, 'a pod name (a DNS-1123 subdomain)', 'it names this waypoint to the control plane');
  const instanceIp = env.raw(E.INSTANCE_IP) ?? '';
  if (instanceIp === '') env.problem(E.INSTANCE_IP, 'required: the pod IP, part of the xDS node id');
  else if (isIP(instanceIp) === 0) env.problem(E.INSTANCE_IP, 'not an IP address');

  // A zero deadline is refused: requests in flight always get some time to finish.
  const { terminationGracePeriodSeconds, drainDeadlineMs } = readDrainDeadline(env, { positive: true });

  const names = gatewayName !== '' && podNamespace !== '' && env.problems.every((p) => !p.startsWith(`${E.GATEWAY_NAME}=`) && !p.startsWith(`${E.POD_NAMESPACE}=`));
  const config: StartupConfig = {
    xdsAddress,
    caAddress,
    xdsRootCaPath: env.nonEmpty(E.XDS_ROOT_CA, DEFAULT_ROOT_CERT_PATH),
    caRootCaPath: env.nonEmpty(E.CA_ROOT_CA, DEFAULT_ROOT_CERT_PATH),
    altXdsHostname: env.dnsName(E.ALT_XDS_HOSTNAME),
    altCaHostname: env.dnsName(E.ALT_CA_HOSTNAME),
    authTokenPath: env.nonEmpty(E.AUTH_TOKEN, DEFAULT_AUTH_TOKEN_PATH),
    clusterId,
    trustDomain,
    gatewayName,
    podName,
    podNamespace,
    instanceIp,
    identity: names && trustDomainOk ? new Identity(trustDomain, podNamespace, gatewayName).uri : '',
    listenerName: `waypoint/${podNamespace}/${gatewayName}`,
    secretTtlMs: env.duration(E.SECRET_TTL, DEFAULT_SECRET_TTL_MS, true),
    initialFetchTimeoutMs: env.duration(E.INITIAL_FETCH_TIMEOUT, DEFAULT_INITIAL_FETCH_TIMEOUT_MS, true),
    terminationGracePeriodSeconds,
    drainDeadlineMs,
    ports: ports(env),
    logLevel: env.choice(E.LOG_LEVEL, DEFAULT_LOG_LEVEL, LOG_LEVELS),
  };
  if (env.problems.length > 0) throw new StartupConfigError(env.problems);
  return Object.freeze(config);
}
