/**
 * HTTP/2 parameters for HBONE, as ztunnel sets them (`src/proxy/h2/{client,server}.rs`), with the two
 * Node-specific findings from our measurements: the connection window must be raised explicitly with
 * `setLocalWindowSize` (Node's default is 65,535 bytes, which halves throughput), on both ends.
 */
import type { Http2Session, Settings } from 'node:http2';

const KiB = 1024;
const MiB = 1024 * KiB;

export interface Http2Tuning {
  /** SETTINGS_INITIAL_WINDOW_SIZE: how much a peer may send on one stream before we consume it. */
  streamWindowSize: number;
  /** Connection-level receive window, applied with `session.setLocalWindowSize`. */
  connectionWindowSize: number;
  /** SETTINGS_MAX_FRAME_SIZE we accept. */
  maxFrameSize: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE we accept. */
  maxHeaderListSize: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS we allow the peer to open (meaningful on the server). */
  maxConcurrentStreams: number;
  /**
   * Node's per-session memory cap in MiB (nghttp2 state plus queued output); past it new streams are
   * refused. Sized so that a few streams with full 4 MiB windows fit.
   */
  maxSessionMemoryMiB: number;
}

export const DEFAULT_SERVER_TUNING: Readonly<Http2Tuning> = Object.freeze({
  streamWindowSize: 4 * MiB,
  connectionWindowSize: 16 * MiB,
  maxFrameSize: 1 * MiB,
  maxHeaderListSize: 64 * KiB,
  maxConcurrentStreams: 200,
  maxSessionMemoryMiB: 64,
});

export const DEFAULT_CLIENT_TUNING: Readonly<Http2Tuning> = Object.freeze({
  streamWindowSize: 4 * MiB,
  connectionWindowSize: 16 * MiB,
  maxFrameSize: 1 * MiB,
  maxHeaderListSize: 16 * KiB,
  // Servers do not open streams to clients in HBONE; nghttp2 still needs a value.
  maxConcurrentStreams: 100,
  maxSessionMemoryMiB: 64,
});

export function resolveTuning(base: Readonly<Http2Tuning>, overrides: Partial<Http2Tuning> | undefined): Http2Tuning {
  return { ...base, ...overrides };
}

/** The SETTINGS frame we send. Push is always off: HBONE has no use for it. */
export function localSettings(t: Http2Tuning): Settings {
  return {
    initialWindowSize: t.streamWindowSize,
    maxFrameSize: t.maxFrameSize,
    maxHeaderListSize: t.maxHeaderListSize,
    maxConcurrentStreams: t.maxConcurrentStreams,
    enablePush: false,
  };
}

/** Raises the connection receive window; call once the session has its socket. */
export function applyConnectionWindow(session: Http2Session, t: Http2Tuning): void {
  if (t.connectionWindowSize > 65_535) session.setLocalWindowSize(t.connectionWindowSize);
}

/** Liveness: PING every `intervalMs`; no answer within `timeoutMs` closes the connection (ztunnel: 10 s / 20 s). */
export interface KeepaliveOptions {
  intervalMs: number;
  timeoutMs: number;
}

export const DEFAULT_KEEPALIVE: Readonly<KeepaliveOptions> = Object.freeze({ intervalMs: 10_000, timeoutMs: 20_000 });

/** TCP keepalive on every HBONE socket (ztunnel: 180 s idle before the first probe). */
export const TCP_KEEPALIVE_DELAY_MS = 180_000;

/** Dial and upstream connect timeout (ztunnel: 10 s). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
