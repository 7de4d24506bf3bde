export { protoDir, loadProtoPackage } from './load.js';
export type { LoadedPackage } from './load.js';
export {
  caServiceDefinition,
  CA_SERVICE_NAME,
  IMPERSONATED_IDENTITY_KEY,
} from './ca.js';
export type { IstioCertificateRequest, IstioCertificateResponse, ProtoStruct, ProtoValue } from './ca.js';
