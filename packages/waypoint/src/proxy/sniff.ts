/**
 * Protocol detection on the first bytes of a tunnel (Envoy's http_inspector): the HTTP/2 connection
 * preface means HTTP/2 with prior knowledge; an HTTP/1.x request line (`TOKEN SP target SP HTTP/1.x`)
 * means HTTP/1; anything else is not HTTP. Bytes are read only until the answer is certain (at most the
 * request line, capped at `MAX_SNIFF_BYTES`) and handed back with the verdict; the stream is left paused.
 * The caller puts them back (`unshift`) or writes them on, which also works after the client's end.
 */
import type { Duplex } from 'node:stream';
import type { Clock } from '@ambit/mesh-core/lifecycle';

export type SniffResult = 'h2' | 'http1' | 'other' | 'empty';

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** Longer than any request line we would accept: past it, the bytes are not HTTP/1 for us. */
export const MAX_SNIFF_BYTES = 8 * 1024;

// RFC 9110 token characters (methods).
const TOKEN = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TOKEN[c.charCodeAt(0)] = 1;

/** What the bytes so far say: a verdict, or undefined when more bytes are needed. */
export function classify(buf: Buffer): SniffResult | undefined {
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (buf.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) return buf.length >= H2_PREFACE.length ? 'h2' : undefined;
  // Method token, then a space.
  let i = 0;
  while (i < buf.length && buf[i]! < 128 && TOKEN[buf[i]!] === 1) i++;
  if (i === buf.length) return buf.length >= 32 ? 'other' : undefined;
  if (i === 0 || buf[i] !== 0x20) return 'other';
  // The target: visible characters up to the next space.
  let j = i + 1;
  while (j < buf.length && buf[j]! > 0x20 && buf[j]! < 0x7f) j++;
  if (j === buf.length) return buf.length >= MAX_SNIFF_BYTES ? 'other' : undefined;
  if (j === i + 1 || buf[j] !== 0x20) return 'other';
  const version = 'HTTP/1.';
  for (let k = 0; k < version.length; k++) {
    if (j + 1 + k >= buf.length) return undefined;
    if (buf[j + 1 + k] !== version.charCodeAt(k)) return 'other';
  }
  return 'http1';
}

/**
 * Reads until `classify` decides, the stream ends (`empty` if nothing came, else `other`), or `timeoutMs`
 * passes (`other`; `empty` if nothing came). Resolves with the verdict and the bytes read.
 */
export function sniff(stream: Duplex, clock: Clock, timeoutMs: number): Promise<{ readonly verdict: SniffResult; readonly head: Buffer }> {
  return new Promise((resolve) => {
    let buf: Buffer = Buffer.alloc(0);
    let done = false;
    const finish = (result: SniffResult): void => {
      if (done) return;
      done = true;
      timer.cancel();
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      stream.pause();
      resolve({ verdict: result, head: buf });
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const verdict = classify(buf);
      if (verdict !== undefined) finish(verdict);
    };
    const onEnd = (): void => finish(buf.length === 0 ? 'empty' : 'other');
    const timer = clock.setTimeout(() => finish(buf.length === 0 ? 'empty' : 'other'), timeoutMs, { keepAlive: false });
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('close', onEnd);
  });
}
