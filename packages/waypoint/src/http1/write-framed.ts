/**
 * One body chunk of an HTTP/1.1 message onto its stream, with what must go before it (the message head, on
 * the first write; a chunk-size line when chunked) and after it (the chunk's CRLF). Up to 16 KiB leave as a
 * single buffer, so that a small message is one write to the tunnel and one DATA frame; a larger chunk is
 * not copied: its pieces are written corked.
 */
import { CHUNK_SUFFIX, chunkPrefix } from './encode.js';

const COALESCE_BYTES = 16 * 1024;

/** Where the bytes go: a tunnel stream, or a connection that writes to one. */
export interface FramedTarget {
  write(data: Buffer): boolean;
  cork(): void;
  uncork(): void;
}

/** Writes `chunk` (non-empty) framed as above; returns what the stream's `write` said (false: wait for 'drain'). */
export function writeFramed(target: FramedTarget, head: string | undefined, chunked: boolean, chunk: Buffer): boolean {
  const prefix = chunked ? chunkPrefix(chunk.length) : undefined;
  const extra = (head?.length ?? 0) + (prefix?.length ?? 0) + (chunked ? CHUNK_SUFFIX.length : 0);
  if (extra === 0) return target.write(chunk);
  if (chunk.length + extra <= COALESCE_BYTES) {
    const out = Buffer.allocUnsafe(chunk.length + extra);
    let at = 0;
    if (head !== undefined) at += out.write(head, at, 'latin1');
    if (prefix !== undefined) at += out.write(prefix, at, 'latin1');
    at += chunk.copy(out, at);
    if (chunked) CHUNK_SUFFIX.copy(out, at);
    return target.write(out);
  }
  target.cork();
  if (head !== undefined) target.write(Buffer.from(head, 'latin1'));
  if (prefix !== undefined) target.write(Buffer.from(prefix, 'latin1'));
  let ok = target.write(chunk);
  if (chunked) ok = target.write(CHUNK_SUFFIX);
  target.uncork();
  return ok;
}
