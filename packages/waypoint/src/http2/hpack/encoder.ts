/**
 * The HPACK encoder of one connection, written for a proxy: CPU matters more than the bytes of a header
 * block that shares a TLS record with its body. So: a field in the static table with its value is one
 * indexed octet (`:status: 200`); a name in the static table is referenced by index; everything else is a
 * literal without indexing, never Huffman-coded, and nothing is ever added to the dynamic table — so the
 * peer's decoder keeps no state for us, and a block never depends on the blocks before it.
 */
import { encodeInteger } from './integer.js';
import { STATIC_FIELD_INDEX, STATIC_NAME_INDEX } from './static-table.js';

export class HpackEncoder {
  /** The table size the peer's decoder assumes for us (its SETTINGS_HEADER_TABLE_SIZE, or what we signalled). */
  #tableSize = 4096;
  /** A size update to send at the start of the next block (-1: none). */
  #pendingUpdate = -1;

  /**
   * The peer's SETTINGS_HEADER_TABLE_SIZE. We use no dynamic table, but a decoder may insist on hearing a
   * smaller size confirmed (§4.2), so a reduction is signalled at the start of the next block.
   */
  setMaxTableSize(n: number): void {
    if (n < this.#tableSize) {
      this.#tableSize = n;
      this.#pendingUpdate = n;
    }
  }

  /** An upper bound of the octets `encode` writes for `fields`. */
  encodedLength(fields: readonly string[]): number {
    let n = this.#pendingUpdate >= 0 ? 6 : 0;
    for (let i = 0; i + 1 < fields.length; i += 2) n += 12 + fields[i]!.length + fields[i + 1]!.length;
    return n;
  }

  /** Encodes `[name, value, …]` (lower-case names, latin1 strings) at `out[offset]`; returns the offset after it. */
  encode(fields: readonly string[], out: Buffer, offset: number): number {
    let o = offset;
    if (this.#pendingUpdate >= 0) {
      o = encodeInteger(out, o, this.#pendingUpdate, 5, 0x20);
      this.#pendingUpdate = -1;
    }
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i]!;
      const value = fields[i + 1]!;
      const nameIndex = STATIC_NAME_INDEX.get(name);
      if (nameIndex !== undefined) {
        // Only a few static entries have values (pseudo-headers, accept-encoding): look those up only.
        if (nameIndex <= 16) {
          const full = STATIC_FIELD_INDEX.get(`${name}\0${value}`);
          if (full !== undefined) {
            out[o++] = 0x80 | full;
            continue;
          }
        }
        o = encodeInteger(out, o, nameIndex, 4, 0x00);
      } else {
        out[o++] = 0x00;
        o = writeString(out, o, name);
      }
      o = writeString(out, o, value);
    }
    return o;
  }
}

function writeString(out: Buffer, offset: number, s: string): number {
  const o = encodeInteger(out, offset, s.length, 7, 0x00);
  return o + out.write(s, o, 'latin1');
}
