/**
 * Encoding of `envoy.service.discovery.v3.DeltaDiscoveryResponse` straight from pre-encoded resources.
 *
 * A push of 10,000 addresses to many ztunnels would otherwise rebuild and re-encode the same nested
 * objects once per stream. Instead each `Resource` message (name, version, aliases, Any) is encoded once
 * per entry and cached; a response is then its header fields plus a copy of those bytes. Field numbers
 * (envoy/service/discovery/v3/discovery.proto): DeltaDiscoveryResponse system_version_info=1,
 * resources=2, type_url=4, nonce=5, removed_resources=6; Resource version=1, resource=2 (Any: type_url=1,
 * value=2), name=3, aliases=4. Tests decode the output with the real message definitions.
 */
import { XdsServerError } from './errors.js';
import type { ResourceEntry } from './resource-table.js';

/** Wire type 2 (length-delimited) tags. */
const TAG_1 = 0x0a;
const TAG_2 = 0x12;
const TAG_3 = 0x1a;
const TAG_4 = 0x22;
const TAG_5 = 0x2a;
const TAG_6 = 0x32;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, offset: number, n: number): number {
  while (n >= 0x80) {
    buf[offset++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[offset++] = n;
  return offset;
}

/** Size of a length-delimited field whose payload is `len` bytes (tag + length + payload). */
function fieldSize(len: number): number {
  return 1 + varintSize(len) + len;
}

function writeString(buf: Buffer, offset: number, tag: number, value: string, len: number): number {
  buf[offset++] = tag;
  offset = writeVarint(buf, offset, len);
  return offset + buf.write(value, offset, 'utf8');
}

function writeBytes(buf: Buffer, offset: number, tag: number, value: Uint8Array): number {
  buf[offset++] = tag;
  offset = writeVarint(buf, offset, value.length);
  buf.set(value, offset);
  return offset + value.length;
}

/** The parts of one DeltaDiscoveryResponse. */
export interface DeltaResponseParts {
  readonly systemVersionInfo: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: readonly ResourceEntry[];
  readonly removed: readonly string[];
  readonly withAliases: boolean;
}

/** Encodes responses, caching each entry's `Resource` message (entries are immutable and shared). */
export class DeltaResponseEncoder {
  readonly #plain = new WeakMap<ResourceEntry, Buffer>();
  readonly #aliased = new WeakMap<ResourceEntry, Buffer>();

  /** The encoded `Resource` message of `entry` in a response of `typeUrl`. */
  resource(entry: ResourceEntry, typeUrl: string, withAliases: boolean): Buffer {
    const cache = withAliases && entry.aliases.length > 0 ? this.#aliased : this.#plain;
    let out = cache.get(entry);
    if (!out) {
      out = encodeResource(entry, typeUrl, cache === this.#aliased);
      cache.set(entry, out);
    }
    return out;
  }

  encode(parts: DeltaResponseParts): Buffer {
    const encoded: Buffer[] = new Array<Buffer>(parts.resources.length);
    const versionLen = Buffer.byteLength(parts.systemVersionInfo);
    const typeUrlLen = Buffer.byteLength(parts.typeUrl);
    const nonceLen = Buffer.byteLength(parts.nonce);
    let size = fieldSize(versionLen) + fieldSize(typeUrlLen) + fieldSize(nonceLen);
    for (let i = 0; i < parts.resources.length; i++) {
      const r = this.resource(parts.resources[i]!, parts.typeUrl, parts.withAliases);
      encoded[i] = r;
      size += fieldSize(r.length);
    }
    const removedLens = parts.removed.map((name) => Buffer.byteLength(name));
    for (const len of removedLens) size += fieldSize(len);

    const buf = Buffer.allocUnsafe(size);
    let o = writeString(buf, 0, TAG_1, parts.systemVersionInfo, versionLen);
    for (const r of encoded) o = writeBytes(buf, o, TAG_2, r);
    o = writeString(buf, o, TAG_4, parts.typeUrl, typeUrlLen);
    o = writeString(buf, o, TAG_5, parts.nonce, nonceLen);
    for (let i = 0; i < parts.removed.length; i++) o = writeString(buf, o, TAG_6, parts.removed[i]!, removedLens[i]!);
    if (o !== size) throw new XdsServerError('XDS_ERR_INTERNAL', `DeltaDiscoveryResponse encoder wrote ${o} of ${size} bytes`);
    return buf;
  }
}

function encodeResource(entry: ResourceEntry, typeUrl: string, withAliases: boolean): Buffer {
  const versionLen = Buffer.byteLength(entry.version);
  const nameLen = Buffer.byteLength(entry.name);
  const typeUrlLen = Buffer.byteLength(typeUrl);
  const anyLen = fieldSize(typeUrlLen) + fieldSize(entry.bytes.length);
  const aliasLens = withAliases ? entry.aliases.map((a) => Buffer.byteLength(a)) : [];
  let size = fieldSize(versionLen) + fieldSize(anyLen) + fieldSize(nameLen);
  for (const len of aliasLens) size += fieldSize(len);

  const buf = Buffer.allocUnsafe(size);
  let o = writeString(buf, 0, TAG_1, entry.version, versionLen);
  buf[o++] = TAG_2;
  o = writeVarint(buf, o, anyLen);
  o = writeString(buf, o, TAG_1, typeUrl, typeUrlLen);
  o = writeBytes(buf, o, TAG_2, entry.bytes);
  o = writeString(buf, o, TAG_3, entry.name, nameLen);
  for (let i = 0; i < aliasLens.length; i++) o = writeString(buf, o, TAG_4, entry.aliases[i]!, aliasLens[i]!);
  if (o !== size) throw new XdsServerError('XDS_ERR_INTERNAL', `Resource encoder wrote ${o} of ${size} bytes`);
  return buf;
}
