/**
 * Envoy's xDS protos, taken from the maintained `@grpc/grpc-js-xds` package (its `deps/` folder ships
 * envoy-api, cncf/xds, googleapis and protoc-gen-validate), never vendored here.
 *
 * Two loaders, one object shape:
 * - `adsServiceDefinition()` goes through `@grpc/proto-loader` (what a grpc-js client or server needs);
 * - `envoyCodec()` goes through one shared protobufjs Root that grows on demand: asking for a type loads
 *   every .proto of that type's package directory (Envoy's layout is one package per directory), so a
 *   caller decoding Listener, Cluster or an HttpConnectionManager pays only for what it uses.
 * Both produce objects shaped by `LOADER_OPTIONS`/`TO_OBJECT_OPTIONS`: snake_case names, enums as names,
 * 64-bit integers as numbers, bytes as Buffer, absent fields omitted, oneofs with their discriminator.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import type { ProtoStruct } from './ca.js';
import { loadProtoPackage } from './load.js';
import { loadRoot, MessageCodec } from './messages.js';

/** Fully qualified name of the Aggregated Discovery Service. */
export const ADS_SERVICE_NAME = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
/** The proto file declaring the ADS service, relative to one of `envoyIncludeDirs()`. */
export const ADS_PROTO_FILE = 'envoy/service/discovery/v3/ads.proto';
/** The prefix of every type URL xDS servers send. */
export const TYPE_URL_PREFIX = 'type.googleapis.com/';

// ---- Object shapes (as grpc-js delivers and accepts them with LOADER_OPTIONS) ----

/** google.protobuf.Any. `value` is the encoded message named by `type_url`. */
export interface ProtoAny {
  type_url?: string;
  value?: Buffer | Uint8Array;
}

/** google.protobuf.Duration (seconds as a number: LOADER_OPTIONS turns longs into numbers). */
export interface ProtoDuration {
  seconds?: number;
  nanos?: number;
}

/** google.rpc.Status: what a NACK carries in `error_detail`. `code` is a google.rpc.Code number. */
export interface RpcStatus {
  code?: number;
  message?: string;
  details?: ProtoAny[];
}

/** envoy.config.core.v3.Locality. */
export interface EnvoyLocality {
  region?: string;
  zone?: string;
  sub_zone?: string;
}

/**
 * envoy.config.core.v3.Node: who is asking. istiod reads `id` (for ztunnel
 * `ztunnel~<ip>~<pod>.<ns>~<ns>.svc.cluster.local`) and `metadata` (NAME, NAMESPACE, INSTANCE_IPS, NODE_NAME…).
 * Fields of Node that no mesh component sets are left out of this shape.
 */
export interface EnvoyNode {
  id?: string;
  cluster?: string;
  metadata?: ProtoStruct;
  locality?: EnvoyLocality;
  user_agent_name?: string;
  user_agent_version?: string;
  user_agent_version_type?: 'user_agent_version' | 'user_agent_build_version';
  client_features?: string[];
}

/** envoy.config.core.v3.ControlPlane. */
export interface ControlPlane {
  identifier?: string;
}

/** envoy.service.discovery.v3.DiscoveryRequest (state of the world). */
export interface DiscoveryRequest {
  version_info?: string;
  node?: EnvoyNode;
  resource_names?: string[];
  type_url?: string;
  response_nonce?: string;
  error_detail?: RpcStatus;
}

/** envoy.service.discovery.v3.DiscoveryResponse (state of the world): the full set of the type. */
export interface DiscoveryResponse {
  version_info?: string;
  resources?: ProtoAny[];
  canary?: boolean;
  type_url?: string;
  nonce?: string;
  control_plane?: ControlPlane;
}

/** envoy.service.discovery.v3.Resource: one resource of a delta response, with its own version. */
export interface DeltaResource {
  name?: string;
  aliases?: string[];
  version?: string;
  resource?: ProtoAny;
  ttl?: ProtoDuration;
  cache_control?: { do_not_cache?: boolean };
}

/** envoy.service.discovery.v3.DeltaDiscoveryRequest (incremental). */
export interface DeltaDiscoveryRequest {
  node?: EnvoyNode;
  type_url?: string;
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  /** Resource name → version held by the client, sent in the first request of a stream only. */
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: RpcStatus;
}

/** envoy.service.discovery.v3.DeltaDiscoveryResponse (incremental): upserts and removals. */
export interface DeltaDiscoveryResponse {
  system_version_info?: string;
  resources?: DeltaResource[];
  type_url?: string;
  removed_resources?: string[];
  /** The newer form of `removed_resources`, with dynamic parameter constraints (unused by Istio). */
  removed_resource_names?: { name?: string }[];
  nonce?: string;
  control_plane?: ControlPlane;
}

// ---- Loaders ----

let includeDirs: string[] | undefined;

/**
 * The include dirs under which Envoy's protos and their imports resolve: envoy-api, cncf/xds (xds, udpa),
 * googleapis (google/rpc, google/api) and protoc-gen-validate, all inside `@grpc/grpc-js-xds`.
 * google/protobuf/* are built into protobufjs.
 */
export function envoyIncludeDirs(): string[] {
  if (!includeDirs) {
    const require = createRequire(import.meta.url);
    const packageDir = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
    includeDirs = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((dir) => path.join(packageDir, 'deps', dir));
  }
  return [...includeDirs];
}

interface AdsPackage {
  envoy: { service: { discovery: { v3: { AggregatedDiscoveryService: grpc.ServiceClientConstructor } } } };
}

let adsCtor: grpc.ServiceClientConstructor | undefined;

/**
 * The grpc-js client constructor for the AggregatedDiscoveryService. Its `.service` is the service
 * definition a server passes to `addService`, with `StreamAggregatedResources` (state of the world) and
 * `DeltaAggregatedResources` (incremental), both bidirectional streams.
 */
export function adsServiceDefinition(): grpc.ServiceClientConstructor {
  if (!adsCtor) {
    const pkg = loadProtoPackage([ADS_PROTO_FILE], envoyIncludeDirs()) as unknown as AdsPackage;
    adsCtor = pkg.envoy.service.discovery.v3.AggregatedDiscoveryService;
  }
  return adsCtor;
}

/** Raised when asked for a type no shipped proto declares. */
export class UnknownProtoTypeError extends Error {
  readonly code = 'PROTO_ERR_UNKNOWN_TYPE';
  constructor(
    readonly typeName: string,
    reason: string,
  ) {
    super(`unknown proto type ${typeName}: ${reason}`);
    this.name = 'UnknownProtoTypeError';
  }
}

let root: protobuf.Root | undefined;
const loadedDirs = new Set<string>();
const codecs = new Map<string, MessageCodec<object>>();

/** The shared protobufjs Root for Envoy types; starts with the discovery protos and grows with `envoyCodec`. */
export function envoyRoot(): protobuf.Root {
  root ??= loadRoot([ADS_PROTO_FILE], envoyIncludeDirs());
  return root;
}

/** `envoy.config.route.v3.RouteAction.HashPolicy` → `envoy/config/route/v3` (packages are lower case). */
function packageDirOf(fullName: string): string {
  const segments = fullName.split('.');
  const firstType = segments.findIndex((s) => /^[A-Z]/.test(s));
  return segments.slice(0, firstType === -1 ? segments.length : firstType).join('/');
}

function ensurePackageLoaded(fullName: string): void {
  const r = envoyRoot();
  if (r.lookup(fullName) instanceof protobuf.Type) return;
  const dir = packageDirOf(fullName);
  if (loadedDirs.has(dir)) return;
  loadedDirs.add(dir);
  const files: string[] = [];
  for (const base of envoyIncludeDirs()) {
    const full = path.join(base, dir);
    if (!existsSync(full)) continue;
    for (const entry of readdirSync(full)) if (entry.endsWith('.proto')) files.push(`${dir}/${entry}`);
  }
  if (files.length === 0) return;
  r.loadSync(files, { keepCase: true });
  r.resolveAll();
}

/**
 * A typed codec for any Envoy/xDS/googleapis message, by full name (`envoy.config.cluster.v3.Cluster`) or
 * type URL (`type.googleapis.com/envoy.config.cluster.v3.Cluster`). The first call for a package loads its
 * protos (tens of milliseconds); codecs are cached. Throws `UnknownProtoTypeError` for a name no proto declares.
 */
export function envoyCodec<T extends object>(fullNameOrTypeUrl: string): MessageCodec<T> {
  const fullName = fullNameOrTypeUrl.startsWith(TYPE_URL_PREFIX)
    ? fullNameOrTypeUrl.slice(TYPE_URL_PREFIX.length)
    : fullNameOrTypeUrl;
  let codec = codecs.get(fullName);
  if (!codec) {
    if (!/^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$/.test(fullName)) {
      throw new UnknownProtoTypeError(fullName, 'not a fully qualified message name');
    }
    ensurePackageLoaded(fullName);
    const found = envoyRoot().lookup(fullName);
    if (!(found instanceof protobuf.Type)) {
      throw new UnknownProtoTypeError(fullName, `no message of that name under ${packageDirOf(fullName)}/ in the Envoy protos`);
    }
    codec = new MessageCodec<object>(envoyRoot(), fullName);
    codecs.set(fullName, codec);
  }
  return codec as MessageCodec<T>;
}

/** Decodes the message inside a google.protobuf.Any by its type URL (e.g. a filter's `typed_config`). */
export function unpackAny<T extends object>(any: ProtoAny): T {
  if (!any.type_url) throw new UnknownProtoTypeError('', 'Any has no type_url');
  return envoyCodec<T>(any.type_url).decode(any.value ?? Buffer.alloc(0));
}
