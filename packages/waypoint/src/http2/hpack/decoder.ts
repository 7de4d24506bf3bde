/**
 * The HPACK decoder of one connection (RFC 7541 §3, §6): header blocks in, `[name, value, …]` out, the
 * dynamic table kept as the peer's encoder assumes it.
 *
 * Names are not lower-cased or checked here (the caller rejects what HTTP/2 forbids, `fields.ts`); strings
 * are latin1, one character per octet, so that obs-text passes through unchanged.
 */
import { HpackError } from './errors.js';
import { huffmanDecode } from './huffman.js';
import { decodeInteger, decoded } from './integer.js';
import { STATIC_TABLE } from './static-table.js';

/** The per-entry overhead of §4.1. */
const ENTRY_OVERHEAD = 32;

export class HpackDecoder {
  /** Dynamic table, oldest first (index 62 is the newest, the last element). */
  readonly #names: string[] = [];
  readonly #values: string[] = [];
  #size = 0;
  /** The size the encoder chose with its last size update (at most `#allowed`). */
  #maxSize: number;
  /** SETTINGS_HEADER_TABLE_SIZE we announced. */
  #allowed: number;
  readonly #maxListSize: number;

  constructor(maxTableSize = 4096, maxHeaderListSize = 65_536) {
    this.#maxSize = maxTableSize;
    this.#allowed = maxTableSize;
    this.#maxListSize = maxHeaderListSize;
  }

  /** The dynamic table's size by §4.1, and its entries newest first (for tests and debugging). */
  get tableSize(): number {
    return this.#size;
  }

  tableEntries(): [string, string][] {
    const out: [string, string][] = [];
    for (let i = this.#names.length - 1; i >= 0; i--) out.push([this.#names[i]!, this.#values[i]!]);
    return out;
  }

  /** A new SETTINGS_HEADER_TABLE_SIZE of ours (acknowledged by the peer). */
  setMaxTableSize(n: number): void {
    this.#allowed = n;
    if (this.#maxSize > n) {
      this.#maxSize = n;
      this.#evict(0);
    }
  }

  /**
   * Decodes one complete header block. Over the list size, the block is still decoded to its end (the
   * table must stay in step) and then `HPACK_HEADER_LIST_TOO_LARGE` is thrown.
   */
  decode(buf: Uint8Array, start: number, end: number): string[] {
    const fields: string[] = [];
    let listSize = 0;
    let tooLarge = false;
    let o = start;
    let fieldSeen = false;
    while (o < end) {
      const b = buf[o]!;
      let name: string;
      let value: string;
      if ((b & 0x80) !== 0) {
        // Indexed field (§6.1).
        o = decodeInteger(buf, o, end, 7);
        const index = decoded.value;
        name = this.#nameAt(index, o);
        value = this.#valueAt(index);
      } else if ((b & 0xe0) === 0x20) {
        // Dynamic table size update (§6.3): only before the first field.
        const at = o;
        o = decodeInteger(buf, o, end, 5);
        if (fieldSeen) throw new HpackError('HPACK_COMPRESSION_ERROR', `a dynamic table size update after a field, at offset ${at}`);
        if (decoded.value > this.#allowed) throw new HpackError('HPACK_COMPRESSION_ERROR', `a dynamic table size update to ${decoded.value}, over the ${this.#allowed} allowed`);
        this.#maxSize = decoded.value;
        this.#evict(0);
        continue;
      } else {
        // Literal (§6.2): with incremental indexing (01), without (0000), never indexed (0001).
        const indexing = (b & 0xc0) === 0x40;
        o = decodeInteger(buf, o, end, indexing ? 6 : 4);
        const nameIndex = decoded.value;
        if (nameIndex === 0) {
          o = this.#string(buf, o, end);
          name = this.#lastString;
        } else {
          name = this.#nameAt(nameIndex, o);
        }
        o = this.#string(buf, o, end);
        value = this.#lastString;
        if (indexing) this.#insert(name, value);
      }
      fieldSeen = true;
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (listSize > this.#maxListSize) tooLarge = true;
      if (!tooLarge) fields.push(name, value);
    }
    if (tooLarge) throw new HpackError('HPACK_HEADER_LIST_TOO_LARGE', `the header list is over ${this.#maxListSize} bytes`);
    return fields;
  }

  #lastString = '';

  /** Reads a string literal (§5.2) into `#lastString`; returns the offset after it. */
  #string(buf: Uint8Array, offset: number, end: number): number {
    if (offset >= end) throw new HpackError('HPACK_COMPRESSION_ERROR', `a string literal is missing at offset ${offset}`);
    const huffman = (buf[offset]! & 0x80) !== 0;
    const o = decodeInteger(buf, offset, end, 7);
    const length = decoded.value;
    if (length > end - o) throw new HpackError('HPACK_COMPRESSION_ERROR', `a string literal of ${length} bytes at offset ${offset} runs past the block's end`);
    this.#lastString = huffman ? huffmanDecode(buf, o, o + length) : latin1(buf, o, o + length);
    return o + length;
  }

  #nameAt(index: number, at: number): string {
    if (index === 0) throw new HpackError('HPACK_COMPRESSION_ERROR', `index 0 at offset ${at}`);
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1]![0];
    const d = this.#names.length - (index - STATIC_TABLE.length);
    if (d < 0) throw new HpackError('HPACK_COMPRESSION_ERROR', `index ${index} at offset ${at} is past the dynamic table's ${this.#names.length} entries`);
    return this.#names[d]!;
  }

  /** After `#nameAt` accepted the index. */
  #valueAt(index: number): string {
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1]![1];
    return this.#values[this.#names.length - (index - STATIC_TABLE.length)]!;
  }

  #insert(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    // An entry larger than the table empties it and is not added (§4.4).
    this.#evict(size);
    if (size > this.#maxSize) return;
    this.#names.push(name);
    this.#values.push(value);
    this.#size += size;
  }

  /** Evicts oldest entries until `room` more bytes fit (§4.3, §4.4). */
  #evict(room: number): void {
    let drop = 0;
    while (this.#size + room > this.#maxSize && drop < this.#names.length) {
      this.#size -= this.#names[drop]!.length + this.#values[drop]!.length + ENTRY_OVERHEAD;
      drop++;
    }
    if (drop > 0) {
      this.#names.splice(0, drop);
      this.#values.splice(0, drop);
    }
  }
}

function latin1(buf: Uint8Array, start: number, end: number): string {
  return (Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)).toString('latin1', start, end);
}
