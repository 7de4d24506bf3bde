/**
 * Encoding and decoding of protobuf messages through protobufjs, with errors that say what was wrong.
 *
 * One protobufjs Root holds every proto we ship (Istio's ambient APIs); Envoy's protos are loaded by
 * `envoy.ts` into their own Root. `toObject` options match `LOADER_OPTIONS` so that a message decoded here
 * has the same shape as one delivered by grpc-js.
 */
import { existsSync as fsExists } from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';
import { protoDir } from './load.js';

export const TO_OBJECT_OPTIONS: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: false,
  arrays: false,
  objects: false,
  oneofs: true,
};

export class ProtoDecodeError extends Error {
  readonly code = 'PROTO_ERR_DECODE';
  constructor(typeName: string, reason: string, options?: { cause?: unknown }) {
    super(`cannot decode ${typeName}: ${reason}`, options);
    this.name = 'ProtoDecodeError';
  }
}

/** Loads .proto files into a fresh Root, resolving imports against our proto dir and `includeDirs`. */
export function loadRoot(files: readonly string[], includeDirs: readonly string[] = []): protobuf.Root {
  const root = new protobuf.Root();
  const dirs = [protoDir, ...includeDirs];
  root.resolvePath = (_origin, target) => {
    if (path.isAbsolute(target)) return target;
    for (const dir of dirs) {
      const candidate = path.join(dir, target);
      if (fsExists(candidate)) return candidate;
    }
    // google/protobuf/*.proto are built into protobufjs: returning the bare name lets it use them.
    return target;
  };
  root.loadSync([...files], { keepCase: true });
  root.resolveAll();
  return root;
}

/** A typed codec over one message type. */
export class MessageCodec<T extends object> {
  readonly type: protobuf.Type;
  readonly typeUrl: string;

  constructor(root: protobuf.Root, fullName: string) {
    this.type = root.lookupType(fullName);
    this.typeUrl = `type.googleapis.com/${fullName}`;
  }

  /** Decodes wire bytes to a plain object; throws ProtoDecodeError with the reason. */
  decode(bytes: Uint8Array): T {
    let message: protobuf.Message;
    try {
      message = this.type.decode(bytes);
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new ProtoDecodeError(this.type.fullName.slice(1), reason, { cause });
    }
    return this.type.toObject(message, TO_OBJECT_OPTIONS) as T;
  }

  /** Encodes a plain object; throws with the offending field when it does not fit the schema. */
  encode(value: T): Buffer {
    // fromObject maps enum names to numbers; verify then checks the result against the schema.
    const message = this.type.fromObject(value);
    const problem = this.type.verify(message);
    if (problem) throw new ProtoDecodeError(this.type.fullName.slice(1), `invalid value: ${problem}`);
    return Buffer.from(this.type.encode(message).finish());
  }
}
