/**
 * What the xDS benchmark's client child (`client-main.ts`) and the harness say to each other over IPC.
 * Times are epoch milliseconds with sub-millisecond precision (`performance.timeOrigin + performance.now()`),
 * comparable across processes of one machine.
 */

/** Harness → child: connect to the control plane. */
export interface ConnectCommand {
  readonly type: 'connect';
  readonly target: string;
  readonly rootCertPem: string;
  readonly serverName: string;
  /** The resource name of the pod the harness changes; the child reports each version of it it applies. */
  readonly churnUid: string;
}

/** Harness → child: collect garbage and report the heap. */
export interface HeapCommand {
  readonly type: 'heap';
}

export type ClientCommand = ConnectCommand | HeapCommand;

/** Child → harness: codecs loaded, garbage collected, baseline heap measured; waiting for `connect`. */
export interface BaselineMessage {
  readonly type: 'baseline';
  readonly heap: HeapReading;
}

/** Child → harness: the first response of both types was applied and ACKed. */
export interface SyncedMessage {
  readonly type: 'synced';
  readonly at: number;
  readonly workloads: number;
  readonly services: number;
  readonly authorizations: number;
  /** Encoded size of every response received so far (`istio_xds_message_bytes_total`, both types). */
  readonly bytes: number;
  readonly responses: number;
}

/** Child → harness: a batch carrying the churn pod was applied. */
export interface ChurnAppliedMessage {
  readonly type: 'churn';
  readonly at: number;
  readonly ip: string;
  readonly revision: string;
}

/** Child → harness: heap after a full collection. */
export interface HeapMessage {
  readonly type: 'heap';
  readonly heap: HeapReading;
}

/** Child → harness: something failed; the child exits after sending this. */
export interface FailedMessage {
  readonly type: 'failed';
  readonly reason: string;
}

export type ClientMessage = BaselineMessage | SyncedMessage | ChurnAppliedMessage | HeapMessage | FailedMessage;

/** `process.memoryUsage()` fields after `gc()`, bytes. */
export interface HeapReading {
  readonly heapUsed: number;
  /** Memory of Buffers and other ArrayBuffers, outside the JS heap. */
  readonly arrayBuffers: number;
}

const TYPES = new Set(['baseline', 'synced', 'churn', 'heap', 'failed']);

export function isClientMessage(value: unknown): value is ClientMessage {
  return typeof value === 'object' && value !== null && TYPES.has((value as { type?: unknown }).type as string);
}

export function isClientCommand(value: unknown): value is ClientCommand {
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
  return type === 'connect' || type === 'heap';
}

/** Now, as epoch milliseconds with sub-millisecond precision. */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}
