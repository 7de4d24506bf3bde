/**
 * Node-level traffic capture: the kernel rules (CaptureManager), the listeners they deliver to
 * (CaptureListeners, listenTransparent) and the spoofed-source dial the data path delivers with
 * (dialTransparent). docs/capture.md explains the rules.
 */
export { CaptureManager } from './capture-manager.js';
export type { CaptureOptions, CaptureState, CaptureStatus, CaptureChange, CaptureKernelState } from './capture-manager.js';
export type { CaptureWorkload } from './workloads.js';
export { CaptureListeners, listenTransparent } from './listeners.js';
export type { CaptureServers, CaptureListenersOptions, TransparentListenOptions } from './listeners.js';
export { dialTransparent } from './dial.js';
export type { DialOptions, DialTarget } from './dial.js';
export { CaptureError } from './errors.js';
export type { CaptureErrorCode, CaptureErrorDetails } from './errors.js';
export {
  ZTUNNEL_MARK,
  MARK_MASK,
  CAPTURE_HOST,
  DEFAULT_CAPTURE_PORTS,
  HBONE_PORT,
  NFT_TABLE,
  DEFAULT_ROUTING_TABLE,
  DEFAULT_RULE_PRIORITY,
  ROUTE_PROTOCOL,
} from './constants.js';
export type { CapturePorts } from './constants.js';
