import { fileURLToPath } from 'node:url';
import path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import * as grpc from '@grpc/grpc-js';

/** Directory holding our .proto sources (shipped with the package). */
export const protoDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../proto');

export type LoadedPackage = grpc.GrpcObject;

/**
 * Options shared by every loader in the mesh: keep proto field names (snake_case) so that objects
 * read like the .proto files, longs as strings would be awkward on the hot path so they are numbers,
 * enums as their names so that logs and config dumps are readable.
 */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  oneofs: true,
};

/** Loads .proto files (relative to `protoDir` or to one of `extraIncludeDirs`) as a grpc-js package object. */
export function loadProtoPackage(files: string[], extraIncludeDirs: string[] = []): LoadedPackage {
  const definition = protoLoader.loadSync(files, {
    ...LOADER_OPTIONS,
    includeDirs: [protoDir, ...extraIncludeDirs],
  });
  return grpc.loadPackageDefinition(definition);
}
