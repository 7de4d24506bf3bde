/**
 * ztunnel's startup configuration: environment variables read once into one frozen `Config`, as ztunnel's
 * `config.rs` does (variable names and defaults are the constants below). Every problem is gathered and
 * reported together as `VAR=value: reason` in one `ConfigError`. The result never changes afterwards;
 * `/config_dump` can serialise it as is.
 */
import { isIP } from 'node:net';
import {
  DEFAULT_AUTH_TOKEN_PATH,
  DEFAULT_ROOT_CERT_PATH,
  DEFAULT_SECRET_TTL_MS,
  DEFAULT_LOG_LEVEL,
  LOG_LEVELS,
  defaultControlPlaneAddress,
  readClusterId,
  readDrainDeadline,
  readTrustDomain,
  type LogLevel,
} from '@ambit/mesh-core/process';
import { EnvReader, type Env } from './config-parse.js';
import { ConfigError } from './errors.js';

/** Environment variable names. */
export const ENV = Object.freeze({
  XDS_ADDRESS: 'XDS_ADDRESS',
  CA_ADDRESS: 'CA_ADDRESS',
  XDS_ROOT_CA: 'XDS_ROOT_CA',
  /** The name to verify in the control plane's serving certificate when dialling it by another name or IP. */
  ALT_XDS_HOSTNAME: 'ALT_XDS_HOSTNAME',
  /** The same for the CA. */
  ALT_CA_HOSTNAME: 'ALT_CA_HOSTNAME',
  CA_ROOT_CA: 'CA_ROOT_CA',
  AUTH_TOKEN: 'AUTH_TOKEN',
  CLUSTER_ID: 'CLUSTER_ID',
  /** Wins over CLUSTER_ID, as in ztunnel (istio-agent style metadata). */
  ISTIO_META_CLUSTER_ID: 'ISTIO_META_CLUSTER_ID',
  TRUST_DOMAIN: 'TRUST_DOMAIN',
  NETWORK: 'NETWORK',
  NODE_NAME: 'NODE_NAME',
  POD_NAME: 'POD_NAME',
  POD_NAMESPACE: 'POD_NAMESPACE',
  INSTANCE_IP: 'INSTANCE_IP',
  /** Only chooses the default control-plane address (in-cluster vs localhost). */
  KUBERNETES_SERVICE_HOST: 'KUBERNETES_SERVICE_HOST',
  SECRET_TTL: 'SECRET_TTL',
  PACKET_MARK: 'PACKET_MARK',
  TERMINATION_GRACE_PERIOD_SECONDS: 'TERMINATION_GRACE_PERIOD_SECONDS',
  CONNECTION_TERMINATION_DEADLINE: 'CONNECTION_TERMINATION_DEADLINE',
  POOL_MAX_STREAMS_PER_CONNECTION: 'POOL_MAX_STREAMS_PER_CONNECTION',
  POOL_UNUSED_RELEASE_TIMEOUT: 'POOL_UNUSED_RELEASE_TIMEOUT',
  HTTP2_STREAM_WINDOW_SIZE: 'HTTP2_STREAM_WINDOW_SIZE',
  HTTP2_CONNECTION_WINDOW_SIZE: 'HTTP2_CONNECTION_WINDOW_SIZE',
  HTTP2_FRAME_SIZE: 'HTTP2_FRAME_SIZE',
  ZTUNNEL_WORKER_THREADS: 'ZTUNNEL_WORKER_THREADS',
  LOG_LEVEL: 'LOG_LEVEL',
  LOCAL_XDS_PATH: 'LOCAL_XDS_PATH',
});

/** 1337: set on every socket ztunnel opens so that capture rules skip its own traffic. */
export const DEFAULT_PACKET_MARK = 0x539;
export const DEFAULT_POOL_MAX_STREAMS_PER_CONNECTION = 100;
export const DEFAULT_POOL_UNUSED_RELEASE_TIMEOUT_MS = 5 * 60 * 1000;
export const DEFAULT_HTTP2_STREAM_WINDOW_SIZE = 4 * 1024 * 1024;
export const DEFAULT_HTTP2_CONNECTION_WINDOW_SIZE = 16 * 1024 * 1024;
export const DEFAULT_HTTP2_FRAME_SIZE = 1024 * 1024;
export const DEFAULT_WORKER_THREADS = 1;

export interface Ports {
  /** Outbound capture, inside each pod's network namespace. */
  readonly outbound: number;
  /** Inbound plaintext capture. */
  readonly inboundPlaintext: number;
  /** Inbound HBONE (mTLS + HTTP/2 CONNECT). */
  readonly inbound: number;
  /** Admin (localhost): config_dump, logging, quitquitquit. */
  readonly admin: number;
  /** Prometheus metrics. */
  readonly stats: number;
  /** `/healthz/ready`. */
  readonly readiness: number;
}

export const DEFAULT_PORTS: Ports = Object.freeze({ outbound: 15001, inboundPlaintext: 15006, inbound: 15008, admin: 15000, stats: 15020, readiness: 15021 });

export interface Http2Config {
  readonly streamWindowSize: number;
  readonly connectionWindowSize: number;
  readonly frameSize: number;
}

export interface Config {
  /** The control plane as a gRPC target `host:port`; undefined when `XDS_ADDRESS` is empty (local config only). */
  readonly xdsAddress: string | undefined;
  /** The CA as a gRPC target; undefined when `CA_ADDRESS` is empty. Defaults to the xDS default. */
  readonly caAddress: string | undefined;
  readonly xdsRootCaPath: string;
  readonly caRootCaPath: string;
  /** The DNS name to verify in the control plane's certificate instead of the host of `xdsAddress`. */
  readonly altXdsHostname: string | undefined;
  /** The DNS name to verify in the CA's certificate instead of the host of `caAddress`. */
  readonly altCaHostname: string | undefined;
  /** File holding the service-account token sent to the control plane and the CA. */
  readonly authTokenPath: string;
  readonly clusterId: string;
  readonly trustDomain: string;
  /** This ztunnel's network (`''`: the default), for `network/ip` lookups. */
  readonly network: string;
  /** The Kubernetes node: its workloads are the local ones. `''` when unset (local mode only). */
  readonly nodeName: string;
  readonly podName: string;
  readonly podNamespace: string;
  readonly instanceIp: string;
  /** Requested workload certificate lifetime. */
  readonly secretTtlMs: number;
  /** SO_MARK on every ztunnel socket. */
  readonly packetMark: number;
  readonly ports: Ports;
  /** `TERMINATION_GRACE_PERIOD_SECONDS` as given. */
  readonly terminationGracePeriodSeconds: number | undefined;
  /**
   * How long a drain waits for connections before cutting them: `CONNECTION_TERMINATION_DEADLINE`, else
   * the grace period minus 5 s (minus 1 s when it is 10 s or less, at least 1 s), else 5 s.
   */
  readonly drainDeadlineMs: number;
  readonly poolMaxStreamsPerConnection: number;
  readonly poolUnusedReleaseTimeoutMs: number;
  readonly http2: Http2Config;
  readonly workerThreads: number;
  readonly logLevel: LogLevel;
  /** YAML of Address/Authorization resources applied instead of (or on top of) xDS. */
  readonly localXdsPath: string | undefined;
}

/** Kubernetes namespace: a DNS-1123 label. */
const NAMESPACE_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** HTTP/2 limits (RFC 9113 section 6.5.2 and 6.9.1). */
const MAX_WINDOW = 2 ** 31 - 1;
const MIN_FRAME = 16_384;
const MAX_FRAME = 2 ** 24 - 1;

/** ztunnel can run on a local file alone: an empty address means no such server. */
function serverAddress(env: EnvReader, name: string, fallback: string): string | undefined {
  const address = env.serverAddress(name, fallback);
  return address === '' ? undefined : address;
}

/**
 * Reads `env` (default `process.env`) into a frozen Config. Throws `ConfigError` listing every problem.
 */
export function parseConfig(envVars: Env = process.env): Config {
  const env = new EnvReader(envVars);
  const defaultAddress = defaultControlPlaneAddress(envVars);
  const xdsAddress = serverAddress(env, ENV.XDS_ADDRESS, defaultAddress);
  const caAddress = serverAddress(env, ENV.CA_ADDRESS, defaultAddress);

  const localRaw = env.raw(ENV.LOCAL_XDS_PATH);
  let localXdsPath: string | undefined;
  if (localRaw !== undefined) {
    if (localRaw.trim() === '') env.problem(ENV.LOCAL_XDS_PATH, 'empty; unset it or name a YAML file');
    else localXdsPath = localRaw;
  }
  if (xdsAddress === undefined && localXdsPath === undefined && env.raw(ENV.XDS_ADDRESS) === '') {
    env.problem(ENV.XDS_ADDRESS, `no control plane and no ${ENV.LOCAL_XDS_PATH}: ztunnel would have no configuration`);
  }

  const clusterId = readClusterId(env);
  const { trustDomain } = readTrustDomain(env);

  // The node id and metadata the control plane identifies this ztunnel by: required with xDS.
  const needed = xdsAddress !== undefined;
  const identityVar = (name: string): string => {
    const value = env.raw(name);
    if (value === undefined || value === '') {
      if (needed) env.problem(name, `required with a control plane (${ENV.XDS_ADDRESS}): it identifies this ztunnel`);
      return '';
    }
    if (value.includes('~')) env.problem(name, 'must not contain "~" (it is part of the xDS node id)');
    return value;
  };
  const nodeName = identityVar(ENV.NODE_NAME);
  const podName = identityVar(ENV.POD_NAME);
  const podNamespace = identityVar(ENV.POD_NAMESPACE);
  if (podNamespace !== '' && !NAMESPACE_RE.test(podNamespace)) env.problem(ENV.POD_NAMESPACE, 'not a Kubernetes namespace name');
  const instanceIp = identityVar(ENV.INSTANCE_IP);
  if (instanceIp !== '' && isIP(instanceIp) === 0) env.problem(ENV.INSTANCE_IP, 'not an IP address');

  const markRaw = env.raw(ENV.PACKET_MARK);
  let packetMark = DEFAULT_PACKET_MARK;
  if (markRaw !== undefined) {
    const text = markRaw.trim();
    const value = /^0x[0-9a-f]+$/i.test(text) ? Number.parseInt(text.slice(2), 16) : /^\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isInteger(value) || value < 1 || value > 0xffffffff) env.problem(ENV.PACKET_MARK, 'want a mark 1-4294967295, decimal or 0x-prefixed hex');
    else packetMark = value;
  }

  // A zero deadline is taken: the drain then cuts at once.
  const { terminationGracePeriodSeconds, drainDeadlineMs } = readDrainDeadline(env, { positive: false });
  const altXdsHostname = env.dnsName(ENV.ALT_XDS_HOSTNAME);
  const altCaHostname = env.dnsName(ENV.ALT_CA_HOSTNAME);

  const config: Config = {
    xdsAddress,
    caAddress,
    xdsRootCaPath: env.nonEmpty(ENV.XDS_ROOT_CA, DEFAULT_ROOT_CERT_PATH),
    caRootCaPath: env.nonEmpty(ENV.CA_ROOT_CA, DEFAULT_ROOT_CERT_PATH),
    altXdsHostname,
    altCaHostname,
    authTokenPath: env.nonEmpty(ENV.AUTH_TOKEN, DEFAULT_AUTH_TOKEN_PATH),
    clusterId,
    trustDomain,
    network: env.string(ENV.NETWORK, ''),
    nodeName,
    podName,
    podNamespace,
    instanceIp,
    secretTtlMs: env.duration(ENV.SECRET_TTL, DEFAULT_SECRET_TTL_MS, true),
    packetMark,
    ports: DEFAULT_PORTS,
    terminationGracePeriodSeconds,
    drainDeadlineMs,
    poolMaxStreamsPerConnection: env.integer(ENV.POOL_MAX_STREAMS_PER_CONNECTION, DEFAULT_POOL_MAX_STREAMS_PER_CONNECTION, 1, 65_535),
    poolUnusedReleaseTimeoutMs: env.duration(ENV.POOL_UNUSED_RELEASE_TIMEOUT, DEFAULT_POOL_UNUSED_RELEASE_TIMEOUT_MS, true),
    http2: Object.freeze({
      streamWindowSize: env.integer(ENV.HTTP2_STREAM_WINDOW_SIZE, DEFAULT_HTTP2_STREAM_WINDOW_SIZE, 65_535, MAX_WINDOW),
      connectionWindowSize: env.integer(ENV.HTTP2_CONNECTION_WINDOW_SIZE, DEFAULT_HTTP2_CONNECTION_WINDOW_SIZE, 65_535, MAX_WINDOW),
      frameSize: env.integer(ENV.HTTP2_FRAME_SIZE, DEFAULT_HTTP2_FRAME_SIZE, MIN_FRAME, MAX_FRAME),
    }),
    workerThreads: env.integer(ENV.ZTUNNEL_WORKER_THREADS, DEFAULT_WORKER_THREADS, 1, 1024),
    logLevel: env.choice(ENV.LOG_LEVEL, DEFAULT_LOG_LEVEL, LOG_LEVELS),
    localXdsPath,
  };
  if (env.problems.length > 0) throw new ConfigError(env.problems);
  return Object.freeze(config);
}
