/**
 * The control plane's command-line flags and environment, parsed into one frozen configuration.
 *
 * Every problem is gathered and reported together (a wrong port and a missing key file in one run, not
 * one per restart). Flags win over environment variables; each flag may be given once.
 */
import { isIP } from 'node:net';
import { MeshError } from '@ambit/mesh-core/errors';
import { Identity, IdentityError } from '@ambit/mesh-core/identity';
import { LOG_LEVELS, type LogLevel } from '@ambit/mesh-core/process';
import { DEFAULT_SERVER_NAMES } from './ca/serving-cert.js';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** The CA's signing material from files; absent means a root generated into the state directory. */
export interface CaFileConfig {
  readonly certPath: string;
  readonly keyPath: string;
  readonly chainPath?: string;
  readonly rootCertPath?: string;
}

/** pino's levels, as the proxies take them. */
export type { LogLevel };

export interface ControlPlaneConfig {
  /** The mesh input: a YAML file or a directory of them. */
  readonly configPath: string;
  /** gRPC over TLS: delta xDS and the CA (istiod's 15012). */
  readonly listen: HostPort;
  /** HTTP: /debug/config_dump, /metrics, /ready. */
  readonly admin: HostPort;
  readonly trustDomain: string;
  readonly clusterId: string;
  readonly ca?: CaFileConfig;
  /** Where the root certificate, a generated CA key, node tokens and waypoint tokens are written. */
  readonly stateDir?: string;
  /** Static token file (token → { node } or { identity }). */
  readonly tokensPath?: string;
  /** Require a bearer token (the CA's) on xDS streams too. */
  readonly xdsRequireToken: boolean;
  /** DNS names in the serving certificate (what clients verify). */
  readonly serverNames: readonly string[];
  readonly logLevel: LogLevel;
  /** How long a graceful stop waits for gRPC calls before cutting them. */
  readonly drainMs: number;
}

export class ConfigError extends MeshError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super('CP_ERR_CONFIG', problems.length === 1 ? problems[0]! : `${problems.length} configuration problems:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

interface FlagSpec {
  readonly env?: string;
  readonly boolean?: boolean;
  readonly help: string;
}

/** Every flag, its environment variable and its help line. */
export const FLAGS: Readonly<Record<string, FlagSpec>> = Object.freeze({
  config: { env: 'AMBIT_CONFIG', help: '<path>  mesh input: a YAML file or a directory of YAML files (required)' },
  listen: { env: 'AMBIT_LISTEN', help: '<host:port>  gRPC/TLS address for xDS and the CA (default 127.0.0.1:15012)' },
  admin: { env: 'AMBIT_ADMIN', help: '<host:port>  HTTP admin address: /debug/config_dump, /metrics, /ready (default 127.0.0.1:15014)' },
  'trust-domain': { env: 'TRUST_DOMAIN', help: '<domain>  trust domain of workload identities (default cluster.local)' },
  'cluster-id': { env: 'CLUSTER_ID', help: '<id>  cluster id of workloads (default Kubernetes)' },
  'ca-cert': { env: 'AMBIT_CA_CERT', help: '<file>  CA signing certificate (root or intermediate); omit to generate a root in --state-dir' },
  'ca-key': { env: 'AMBIT_CA_KEY', help: '<file>  private key of --ca-cert (ECDSA P-256)' },
  'ca-chain': { env: 'AMBIT_CA_CHAIN', help: '<file>  intermediates between --ca-cert and the root' },
  'root-cert': { env: 'AMBIT_ROOT_CERT', help: '<file>  root certificate(s); required when --ca-cert is not a self-signed root' },
  'state-dir': { env: 'AMBIT_STATE_DIR', help: '<dir>  writes root-cert.pem, a generated CA key, node-tokens/<node>.token and waypoint-tokens/<ns>/<name>.token' },
  tokens: { env: 'AMBIT_TOKENS', help: '<file>  static bearer tokens: YAML/JSON mapping token → { node } or { identity }' },
  'xds-require-token': { env: 'AMBIT_XDS_REQUIRE_TOKEN', boolean: true, help: 'require a bearer token on xDS streams too' },
  'server-name': { env: 'AMBIT_SERVER_NAMES', help: '<dns>[,<dns>…]  DNS names of the serving certificate (default istiod.istio-system.svc,localhost)' },
  'log-level': { env: 'LOG_LEVEL', help: `<level>  ${LOG_LEVELS.join('|')} (default info)` },
  'drain-seconds': { env: 'AMBIT_DRAIN_SECONDS', help: '<seconds>  on SIGTERM, how long open gRPC calls may take to finish (default 5)' },
});

export function usage(): string {
  const lines = Object.entries(FLAGS).map(([name, spec]) => `  --${name} ${spec.help}${spec.env ? ` [env ${spec.env}]` : ''}`);
  return `Usage: ambit-control-plane --config <path> [options]\n\n${lines.join('\n')}\n  --help  this text\n`;
}

/** `--help` was asked for: not an error, but no configuration either. */
export class HelpRequested extends MeshError {
  constructor() {
    super('CP_HELP', usage());
  }
}

/** DNS-1123 subdomain, for serving certificate names. */
const DNS_NAME_RE = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Parses `host:port` or `[v6]:port`; port 0 means "any free port" (tests). */
export function parseHostPort(value: string): HostPort | string {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:[\]]+):(\d+)$/.exec(value);
  if (!m) return `${JSON.stringify(value)} is not host:port (IPv6 as [addr]:port)`;
  const host = m[1]!;
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port > 65535) return `port ${m[2]} in ${JSON.stringify(value)} is not 0-65535`;
  if (value.startsWith('[') && isIP(host) !== 6) return `${JSON.stringify(host)} is not an IPv6 address`;
  if (!isIP(host) && !DNS_NAME_RE.test(host.toLowerCase())) return `${JSON.stringify(host)} is neither an IP address nor a host name`;
  return { host, port };
}

/**
 * Parses `argv` (without node and script) and `env`. Throws HelpRequested for --help, ConfigError listing
 * every problem otherwise.
 */
export function parseConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): ControlPlaneConfig {
  const problems: string[] = [];
  const given = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') throw new HelpRequested();
    if (!arg.startsWith('--')) {
      problems.push(`unexpected argument ${JSON.stringify(arg)}`);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = FLAGS[name];
    if (!spec) {
      problems.push(`unknown flag --${name} (see --help)`);
      continue;
    }
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (spec.boolean) value = 'true';
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) value = argv[++i]!;
    else {
      problems.push(`--${name} needs a value`);
      continue;
    }
    if (given.has(name)) problems.push(`--${name} is given more than once`);
    given.set(name, value);
  }
  const get = (name: string): string | undefined => {
    const fromFlag = given.get(name);
    if (fromFlag !== undefined) return fromFlag;
    const envName = FLAGS[name]?.env;
    const fromEnv = envName !== undefined ? env[envName] : undefined;
    return fromEnv === '' ? undefined : fromEnv;
  };
  const nonEmpty = (name: string): string | undefined => {
    const v = get(name);
    if (v !== undefined && v.trim() === '') problems.push(`--${name} is empty`);
    return v?.trim() === '' ? undefined : v;
  };

  const configPath = nonEmpty('config');
  if (configPath === undefined) problems.push('--config <path> is required (a mesh YAML file or directory)');

  const hostPort = (name: string, fallback: string): HostPort => {
    const parsed = parseHostPort(get(name) ?? fallback);
    if (typeof parsed === 'string') {
      problems.push(`--${name}: ${parsed}`);
      return { host: '127.0.0.1', port: 0 };
    }
    return parsed;
  };
  const listen = hostPort('listen', '127.0.0.1:15012');
  const admin = hostPort('admin', '127.0.0.1:15014');
  if (listen.port !== 0 && listen.port === admin.port && listen.host === admin.host) {
    problems.push(`--listen and --admin are both ${listen.host}:${listen.port}`);
  }

  const trustDomain = get('trust-domain') ?? 'cluster.local';
  try {
    new Identity(trustDomain, 'default', 'default');
  } catch (err) {
    problems.push(`--trust-domain: ${err instanceof IdentityError ? err.detail : String(err)}`);
  }
  const clusterId = get('cluster-id') ?? 'Kubernetes';
  if (clusterId === '' || clusterId.includes('/')) problems.push(`--cluster-id ${JSON.stringify(clusterId)} must be non-empty and without "/"`);

  const caCert = nonEmpty('ca-cert');
  const caKey = nonEmpty('ca-key');
  const caChain = nonEmpty('ca-chain');
  const rootCert = nonEmpty('root-cert');
  const stateDir = nonEmpty('state-dir');
  let ca: CaFileConfig | undefined;
  if (caCert !== undefined && caKey !== undefined) {
    ca = { certPath: caCert, keyPath: caKey, ...(caChain !== undefined ? { chainPath: caChain } : {}), ...(rootCert !== undefined ? { rootCertPath: rootCert } : {}) };
  } else if (caCert !== undefined || caKey !== undefined) {
    problems.push('--ca-cert and --ca-key go together');
  } else {
    if (caChain !== undefined || rootCert !== undefined) problems.push('--ca-chain and --root-cert need --ca-cert and --ca-key');
    if (stateDir === undefined) problems.push('without --ca-cert/--ca-key a root CA is generated, and --state-dir is needed to keep it and publish root-cert.pem');
  }

  const tokensPath = nonEmpty('tokens');
  const requireToken = get('xds-require-token') ?? 'false';
  if (requireToken !== 'true' && requireToken !== 'false') problems.push(`--xds-require-token must be true or false, got ${JSON.stringify(requireToken)}`);
  const xdsRequireToken = requireToken === 'true';
  if (xdsRequireToken && tokensPath === undefined && stateDir === undefined) {
    problems.push('--xds-require-token needs tokens: --tokens <file> or --state-dir (generated node tokens)');
  }

  const serverNamesText = get('server-name');
  const serverNames = serverNamesText !== undefined ? serverNamesText.split(',').map((s) => s.trim().toLowerCase()) : [...DEFAULT_SERVER_NAMES];
  for (const n of serverNames) if (!DNS_NAME_RE.test(n)) problems.push(`--server-name ${JSON.stringify(n)} is not a DNS name`);

  const logLevel = (get('log-level') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);

  const drainText = get('drain-seconds') ?? '5';
  const drainSeconds = Number(drainText);
  if (!/^\d+(\.\d+)?$/.test(drainText) || !(drainSeconds <= 3600)) problems.push(`--drain-seconds must be a number of seconds from 0 to 3600, got ${JSON.stringify(drainText)}`);

  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    configPath: configPath!,
    listen: Object.freeze(listen),
    admin: Object.freeze(admin),
    trustDomain,
    clusterId,
    ...(ca ? { ca: Object.freeze(ca) } : {}),
    ...(stateDir !== undefined ? { stateDir } : {}),
    ...(tokensPath !== undefined ? { tokensPath } : {}),
    xdsRequireToken,
    serverNames: Object.freeze(serverNames),
    logLevel,
    drainMs: Math.round(drainSeconds * 1000),
  });
}
