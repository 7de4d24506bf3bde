export {
  DEFAULT_AUTH_TOKEN_PATH,
  DEFAULT_CONNECTION_TERMINATION_DEADLINE_MS,
  DEFAULT_LOG_LEVEL,
  DEFAULT_ROOT_CERT_PATH,
  DEFAULT_SECRET_TTL_MS,
  DEFAULT_TRUST_DOMAIN,
  DEFAULT_XDS_ADDRESS_IN_CLUSTER,
  DEFAULT_XDS_ADDRESS_OUTSIDE_CLUSTER,
  LOG_LEVELS,
  MAX_TERMINATION_GRACE_PERIOD_SECONDS,
  defaultControlPlaneAddress,
  drainDeadlineFromGrace,
  readClusterId,
  readDrainDeadline,
  readTrustDomain,
} from './proxy-env.js';
export type { DrainDeadline, LogLevel } from './proxy-env.js';
export { routeGrpcLogs } from './grpc-logs.js';
export { runMain } from './run-main.js';
export { runUntilStopped } from './stop.js';
export type { SignalSource, StopOptions } from './stop.js';
export { connectCa, xdsConnectionOptions } from './control-plane.js';
export type { ControlPlaneSettings, XdsConnectionOptions } from './control-plane.js';
