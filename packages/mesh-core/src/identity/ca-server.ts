/**
 * The mesh CA: Istio's `istio.v1.auth.IstioCertificateService/CreateCertificate`, so that Istio's own
 * ztunnel can get certificates from our control plane and ours from istiod.
 *
 * The service is added to a gRPC server the caller owns, so the control plane can serve it beside xDS
 * on one TLS port, as istiod does on 15012.
 *
 * Differences from istiod, on purpose:
 * - istiod ignores the CSR's SANs and writes the caller's identities into the certificate. We require the
 *   CSR to name exactly one SPIFFE identity and check that the caller may have it. Clients get a precise
 *   refusal instead of a certificate for something other than what they asked for.
 * - Refusals carry the reason (istiod answers an opaque "request authenticate failure"). The reasons
 *   only describe the caller's own request, so they reveal nothing the caller does not already know.
 */
import * as grpc from '@grpc/grpc-js';
import {
  caServiceDefinition,
  IMPERSONATED_IDENTITY_KEY,
  type IstioCertificateRequest,
  type IstioCertificateResponse,
  type ProtoStruct,
} from '@ambit/protos';
import type { Logger } from 'pino';
import { MeshError } from '../errors.js';
import { realClock, type Clock } from '../lifecycle/clock.js';
import { CaAuthenticationError, bearerTokenFrom, type Authenticator, type Caller } from './ca-auth.js';
import { issueLeaf, issuedChain, parseCertificate, parseCsr, splitPemChain, type CaMaterial, type ParsedCsr } from './pki.js';
import { Identity, IdentityError } from './spiffe.js';

/** Istio's default workload certificate lifetime (DEFAULT_WORKLOAD_CERT_TTL). */
export const DEFAULT_CERT_TTL_SECONDS = 24 * 3600;
/** Istio's default ceiling on a requested lifetime (MAX_WORKLOAD_CERT_TTL). */
export const DEFAULT_MAX_CERT_TTL_SECONDS = 90 * 24 * 3600;
/** A P-256 CSR is under 1 KiB; anything this large is not one, and is refused before parsing. */
const MAX_CSR_CHARS = 16 * 1024;
/** Certificates start a minute in the past, so that a peer whose clock is slightly behind accepts them. */
const BACKDATE_MS = 60_000;

export type CaRequestErrorCode =
  | 'CA_ERR_UNAUTHENTICATED'
  | 'CA_ERR_INVALID_ARGUMENT'
  | 'CA_ERR_PERMISSION_DENIED'
  | 'CA_ERR_UNAVAILABLE'
  | 'CA_ERR_INTERNAL';

const GRPC_CODE: Record<CaRequestErrorCode, grpc.status> = {
  CA_ERR_UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  CA_ERR_INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  CA_ERR_PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  CA_ERR_UNAVAILABLE: grpc.status.UNAVAILABLE,
  CA_ERR_INTERNAL: grpc.status.INTERNAL,
};

/** A refused CreateCertificate; `grpcCode` is the status the client receives, `reason` its message. */
export class CaRequestError extends MeshError {
  readonly grpcCode: grpc.status;

  constructor(code: CaRequestErrorCode, reason: string, options?: { cause?: unknown }) {
    super(code, reason, options);
    this.grpcCode = GRPC_CODE[code];
  }
}

export interface CertificateAuthorityOptions {
  /** Signing material: a root, or an intermediate with its root(s). */
  readonly ca: CaMaterial;
  /** The only trust domain this CA signs for. */
  readonly trustDomain: string;
  readonly authenticator: Authenticator;
  /** Issuances are logged at info, refusals at warn. */
  readonly logger: Logger;
  /** Lifetime when the request asks for none (validity_duration <= 0). Default 24 h. */
  readonly defaultTtlSeconds?: number;
  /** Requests for longer are refused with INVALID_ARGUMENT, as istiod does. Default 90 days. */
  readonly maxTtlSeconds?: number;
  readonly clock?: Clock;
}

/** The transport-independent CA: authenticate, validate, authorize, sign. */
export class CertificateAuthorityService {
  readonly trustDomain: string;
  readonly #ca: CaMaterial;
  readonly #authenticator: Authenticator;
  readonly #log: Logger;
  readonly #defaultTtlMs: number;
  readonly #maxTtlSeconds: number;
  readonly #clock: Clock;
  /** Everything after the leaf in a response: intermediates, then roots, one PEM per element. */
  readonly #chainTail: readonly string[];
  /** A leaf cannot usefully outlive its issuer, so lifetimes are cut at the signing certificate's end. */
  readonly #caNotAfterMs: number;

  constructor(options: CertificateAuthorityOptions) {
    const { defaultTtlSeconds = DEFAULT_CERT_TTL_SECONDS, maxTtlSeconds = DEFAULT_MAX_CERT_TTL_SECONDS } = options;
    if (!(defaultTtlSeconds > 0)) throw new RangeError(`defaultTtlSeconds must be > 0, got ${defaultTtlSeconds}`);
    if (!(maxTtlSeconds >= defaultTtlSeconds)) {
      throw new RangeError(`maxTtlSeconds (${maxTtlSeconds}) must be >= defaultTtlSeconds (${defaultTtlSeconds})`);
    }
    // Validates the trust domain with the same rules an Identity applies (throws IdentityError).
    new Identity(options.trustDomain, 'default', 'default');
    const signing = parseCertificate(options.ca.certPem);
    if (!signing.isCa) throw new RangeError('CertificateAuthorityService: the signing certificate is not a CA');
    if (options.ca.rootsPem.length === 0) throw new RangeError('CertificateAuthorityService: CA material has no roots');
    this.trustDomain = options.trustDomain;
    this.#ca = options.ca;
    this.#authenticator = options.authenticator;
    this.#log = options.logger;
    this.#defaultTtlMs = defaultTtlSeconds * 1000;
    this.#maxTtlSeconds = maxTtlSeconds;
    this.#clock = options.clock ?? realClock;
    this.#chainTail = Object.freeze(splitPemChain([...issuedChain(options.ca), ...options.ca.rootsPem]));
    this.#caNotAfterMs = signing.notAfter.getTime();
  }

  /**
   * Handles one request. Resolves with Istio's response (`cert_chain`: leaf, intermediates, roots);
   * rejects with `CaRequestError` only. `peer` is for logs.
   */
  async createCertificate(request: IstioCertificateRequest, metadata: grpc.Metadata, peer = 'unknown'): Promise<IstioCertificateResponse> {
    const ctx: { caller?: Caller; identity?: Identity } = {};
    try {
      return await this.#create(request, metadata, ctx);
    } catch (err) {
      const refusal =
        err instanceof CaRequestError ? err : new CaRequestError('CA_ERR_INTERNAL', 'certificate signing failed', { cause: err });
      const fields = { peer, caller: ctx.caller?.name, identity: ctx.identity?.uri, code: refusal.code, reason: refusal.reason };
      if (refusal.code === 'CA_ERR_INTERNAL' || refusal.code === 'CA_ERR_UNAVAILABLE') this.#log.error({ ...fields, err: refusal.cause }, 'certificate request failed');
      else this.#log.warn(fields, 'certificate request refused');
      throw refusal;
    }
  }

  async #create(request: IstioCertificateRequest, metadata: grpc.Metadata, ctx: { caller?: Caller; identity?: Identity }): Promise<IstioCertificateResponse> {
    const caller = await this.#authenticate(metadata);
    ctx.caller = caller;
    const csr = await checkedCsr(request.csr);
    const identity = requestedIdentity(csr);
    ctx.identity = identity;
    const impersonated = impersonatedIdentity(request.metadata);
    if (impersonated && !impersonated.equals(identity)) {
      throw new CaRequestError('CA_ERR_INVALID_ARGUMENT', `CSR asks for ${identity.uri} but ImpersonatedIdentity is ${impersonated.uri}`);
    }
    if (identity.trustDomain !== this.trustDomain) {
      throw new CaRequestError('CA_ERR_PERMISSION_DENIED', `${identity.uri} is outside this CA's trust domain "${this.trustDomain}"`);
    }
    await authorize(caller, identity, impersonated !== undefined);
    const ttlMs = this.#ttlMs(request.validity_duration);

    const now = this.#clock.now();
    const notBefore = new Date(now - BACKDATE_MS);
    const notAfter = new Date(Math.min(now + ttlMs, this.#caNotAfterMs));
    const leafPem = await issueLeaf(this.#ca, { publicKey: csr.publicKey, uris: [identity.uri], notBefore, notAfter });
    const leaf = parseCertificate(leafPem);
    this.#log.info(
      { identity: identity.uri, caller: caller.name, impersonated: impersonated !== undefined, serial: leaf.serialNumber, notAfter: leaf.notAfter.toISOString() },
      'issued workload certificate',
    );
    return { cert_chain: [...splitPemChain(leafPem), ...this.#chainTail] };
  }

  async #authenticate(metadata: grpc.Metadata): Promise<Caller> {
    try {
      return await this.#authenticator.authenticate(bearerTokenFrom(metadata), metadata);
    } catch (err) {
      if (err instanceof CaAuthenticationError) throw new CaRequestError('CA_ERR_UNAUTHENTICATED', err.reason);
      throw new CaRequestError('CA_ERR_UNAVAILABLE', 'the authenticator could not decide; retry later', { cause: err });
    }
  }

  #ttlMs(validityDuration: number | undefined): number {
    const seconds = validityDuration ?? 0;
    if (!Number.isFinite(seconds) || seconds <= 0) return this.#defaultTtlMs;
    if (seconds > this.#maxTtlSeconds) {
      throw new CaRequestError('CA_ERR_INVALID_ARGUMENT', `requested validity ${seconds}s is greater than the maximum ${this.#maxTtlSeconds}s`);
    }
    return seconds * 1000;
  }
}

async function checkedCsr(pem: string | undefined): Promise<ParsedCsr> {
  if (!pem) throw new CaRequestError('CA_ERR_INVALID_ARGUMENT', 'csr is empty');
  if (pem.length > MAX_CSR_CHARS) throw new CaRequestError('CA_ERR_INVALID_ARGUMENT', `csr is ${pem.length} characters; at most ${MAX_CSR_CHARS} are accepted`);
  try {
    return await parseCsr(pem);
  } catch (err) {
    throw new CaRequestError('CA_ERR_INVALID_ARGUMENT', err instanceof MeshError ? err.reason : 'csr cannot be parsed', { cause: err });
  }
}

/** The one identity a CSR asks for: exactly one SAN, and it a SPIFFE URI. */
function requestedIdentity(csr: ParsedCsr): Identity {
  const sans = [...csr.uris.map((u) => `URI:${u}`), ...csr.dnsNames.map((d) => `DNS:${d}`), ...csr.otherSans];
  if (sans.length === 0) throw new CaRequestError('CA_ERR_INVALID_ARGUMENT', 'CSR has no subject alternative name; expected one SPIFFE URI');
  if (sans.length > 1) throw new CaRequestError('CA_ERR_INVALID_ARGUMENT', `CSR has ${sans.length} subject alternative names (${sans.join(', ')}); expected exactly one SPIFFE URI`);
  const uri = csr.uris[0];
  if (uri === undefined) throw new CaRequestError('CA_ERR_INVALID_ARGUMENT', `CSR's subject alternative name ${sans[0]} is not a SPIFFE URI`);
  try {
    return Identity.parse(uri);
  } catch (err) {
    throw new CaRequestError('CA_ERR_INVALID_ARGUMENT', err instanceof IdentityError ? err.reason : `CSR URI ${uri} is not a SPIFFE identity`);
  }
}

/** `metadata.ImpersonatedIdentity`: absent or empty (istiod's reading) → undefined; otherwise a string SPIFFE URI. */
function impersonatedIdentity(metadata: ProtoStruct | null | undefined): Identity | undefined {
  const value = metadata?.fields?.[IMPERSONATED_IDENTITY_KEY];
  if (value === undefined) return undefined;
  if (typeof value.stringValue !== 'string') {
    throw new CaRequestError('CA_ERR_INVALID_ARGUMENT', `metadata ${IMPERSONATED_IDENTITY_KEY} must be a string, got ${value.kind ?? 'nothing'}`);
  }
  if (value.stringValue === '') return undefined;
  try {
    return Identity.parse(value.stringValue);
  } catch (err) {
    throw new CaRequestError('CA_ERR_INVALID_ARGUMENT', `metadata ${IMPERSONATED_IDENTITY_KEY}: ${err instanceof IdentityError ? err.reason : 'not a SPIFFE identity'}`);
  }
}

async function authorize(caller: Caller, identity: Identity, impersonating: boolean): Promise<void> {
  if (caller.identities.some((own) => own.equals(identity))) return;
  if (!impersonating) {
    const own = caller.identities.length ? caller.identities.map((i) => i.uri).join(', ') : 'none';
    throw new CaRequestError('CA_ERR_PERMISSION_DENIED', `caller ${caller.name} may not obtain ${identity.uri} (its own identities: ${own})`);
  }
  if (!caller.mayImpersonate) {
    throw new CaRequestError('CA_ERR_PERMISSION_DENIED', `caller ${caller.name} may not impersonate other identities`);
  }
  let allowed: boolean;
  try {
    allowed = await caller.mayImpersonate(identity);
  } catch (err) {
    throw new CaRequestError('CA_ERR_UNAVAILABLE', `could not decide whether ${caller.name} may impersonate ${identity.uri}; retry later`, { cause: err });
  }
  if (!allowed) throw new CaRequestError('CA_ERR_PERMISSION_DENIED', `caller ${caller.name} may not impersonate ${identity.uri}`);
}

/**
 * Adds IstioCertificateService to `server` (which the caller creates, binds, secures and shuts down).
 * Every refusal reaches the client as a gRPC status with the reason as its message.
 */
export function addCaService(server: grpc.Server, ca: CertificateAuthorityService): void {
  server.addService(caServiceDefinition().service, {
    CreateCertificate: (
      call: grpc.ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>,
      callback: grpc.sendUnaryData<IstioCertificateResponse>,
    ) => {
      ca.createCertificate(call.request, call.metadata, call.getPeer()).then(
        (response) => callback(null, response),
        (err: unknown) => {
          const refusal = err instanceof CaRequestError ? err : new CaRequestError('CA_ERR_INTERNAL', 'certificate signing failed');
          callback({ code: refusal.grpcCode, details: refusal.reason });
        },
      );
    },
  });
}
