import type * as grpc from '@grpc/grpc-js';
import { loadProtoPackage } from './load.js';

/** Fully qualified name of Istio's CA service. */
export const CA_SERVICE_NAME = 'istio.v1.auth.IstioCertificateService';

/** Metadata key ztunnel uses to ask for a certificate on behalf of a workload identity. */
export const IMPERSONATED_IDENTITY_KEY = 'ImpersonatedIdentity';

/** google.protobuf.Value as protobufjs decodes it with `oneofs: true`. */
export interface ProtoValue {
  nullValue?: 'NULL_VALUE';
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: ProtoStruct;
  listValue?: { values?: ProtoValue[] };
  kind?: string;
}

/** google.protobuf.Struct. */
export interface ProtoStruct {
  fields?: Record<string, ProtoValue>;
}

export interface IstioCertificateRequest {
  csr?: string;
  /** Seconds. */
  validity_duration?: number;
  metadata?: ProtoStruct | null;
}

export interface IstioCertificateResponse {
  cert_chain?: string[];
}

interface CaServicePackage {
  istio: { v1: { auth: { IstioCertificateService: grpc.ServiceClientConstructor } } };
}

let cached: grpc.ServiceClientConstructor | undefined;

/** The grpc-js client constructor (and, via `.service`, the service definition) for IstioCertificateService. */
export function caServiceDefinition(): grpc.ServiceClientConstructor {
  if (!cached) {
    const pkg = loadProtoPackage(['istio/v1/auth/ca.proto']) as unknown as CaServicePackage;
    cached = pkg.istio.v1.auth.IstioCertificateService;
  }
  return cached;
}
