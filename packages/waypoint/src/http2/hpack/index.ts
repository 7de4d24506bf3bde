export { HpackDecoder } from './decoder.js';
export { HpackEncoder } from './encoder.js';
export { HpackError, type HpackErrorCode } from './errors.js';
export { huffmanDecode, huffmanEncode, huffmanEncodedLength } from './huffman.js';
export { decodeInteger, decoded, encodeInteger } from './integer.js';
export { STATIC_TABLE } from './static-table.js';
