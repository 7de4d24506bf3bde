export { HboneServer } from './server.js';
export type { ConnectionAddresses, HboneServerOptions, InboundTunnelRequest, TunnelDecision, TunnelRefusal, UpstreamConnection } from './server.js';
export { HboneClient } from './client.js';
export type { HboneClientOptions, HboneDialer, OutboundTunnelRequest } from './client.js';
export { relay, startRelay } from './relay.js';
export type { RelayOwner, RelayResult } from './relay.js';
export { HboneError } from './errors.js';
export type { HboneErrorCode, ResponseFlag } from './errors.js';
export {
  DEFAULT_CLIENT_TUNING,
  DEFAULT_SERVER_TUNING,
  DEFAULT_KEEPALIVE,
  DEFAULT_CONNECT_TIMEOUT_MS,
} from './settings.js';
export type { Http2Tuning, KeepaliveOptions } from './settings.js';
export { parseAuthority, formatAuthority, forwardedFor, parseForwardedFor, parseForwardedHost } from './headers.js';
export type { HostPort } from './headers.js';
export { connectTcp } from './upstream.js';
export { systemTimers } from './timers.js';
export type { Timers } from './timers.js';
