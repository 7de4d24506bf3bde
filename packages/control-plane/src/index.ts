export { MeshModel, ModelOptionsError, DEFAULT_DEBOUNCE_MS } from './model/mesh-model.js';
export type { MeshModelOptions } from './model/mesh-model.js';
export { DEFAULT_MODEL_OPTIONS } from './model/options.js';
export type { ModelOptions } from './model/options.js';
export type { MeshSnapshot, InputDiagnostic, SnapshotSource } from './model/snapshot.js';
export { computeMesh } from './model/compute.js';
export type { MeshContent } from './model/compute.js';
export { STATIC_STRICT_POLICY_NAME, CONVERTED_PEER_AUTHENTICATION_PREFIX } from './model/peer-authentication.js';
export { InputLoader, InputError, listInputFiles } from './input/loader.js';
export type { InputSet } from './input/input-set.js';
export { KindRegistry } from './input/registry.js';
export type { KindDecoder, DecodeContext } from './input/registry.js';
export { defaultRegistry } from './input/kinds/index.js';
export type {
  InputObject,
  InputKind,
  ObjectMeta,
  SourceRef,
  NamespaceObject,
  NodeObject,
  ServiceAccountObject,
  PodObject,
  ServiceObject,
  AuthorizationPolicyObject,
  PeerAuthenticationObject,
  GatewayObject,
} from './input/objects.js';
