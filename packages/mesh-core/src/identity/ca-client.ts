/**
 * Client for Istio's CA API (`IstioCertificateService/CreateCertificate`), as ztunnel uses it
 * (ztunnel src/identity/caclient.rs): a fresh P-256 key and CSR per certificate, the service-account
 * token as `authorization: Bearer`, the cluster in `clusterid`, and `ImpersonatedIdentity` when a node
 * proxy asks on a workload's behalf.
 *
 * Server verification follows ztunnel and istio-agent: TLS against the configured root(s), with the
 * server certificate checked for the DNS name being dialled (istiod serves a DNS certificate for
 * `istiod.<ns>.svc`). Not for a SPIFFE ID: istiod's serving certificate carries none. `serverName`
 * overrides the name when dialling by IP or through a gateway.
 */
import { readFile } from 'node:fs/promises';
import { webcrypto, type X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import {
  caServiceDefinition,
  IMPERSONATED_IDENTITY_KEY,
  type IstioCertificateRequest,
  type IstioCertificateResponse,
} from '@ambit/protos';
import type { Logger } from 'pino';
import { MeshError } from '../errors.js';
import { createCsr, generateKeyPair, parseCertificate, privateKeyToPem, splitPemChain, type WorkloadCertificate } from './pki.js';
import type { Identity } from './spiffe.js';

/** Default `clusterid` header, ztunnel's default CLUSTER_ID. */
export const DEFAULT_CLUSTER_ID = 'Kubernetes';
const DEFAULT_TIMEOUT_MS = 10_000;
/** Headers the client sets itself; configuring them as extra headers would be ambiguous. */
const RESERVED_HEADERS = new Set(['authorization', 'clusterid']);

export type CaClientErrorCode =
  | 'CA_CLIENT_ERR_UNAVAILABLE'
  | 'CA_CLIENT_ERR_REJECTED'
  | 'CA_CLIENT_ERR_BAD_RESPONSE'
  | 'CA_CLIENT_ERR_TOKEN'
  | 'CA_CLIENT_ERR_CLOSED';

export class CaClientError extends MeshError {
  /** The gRPC status, when the failure was one. */
  readonly grpcCode: grpc.status | undefined;

  constructor(code: CaClientErrorCode, reason: string, options?: { cause?: unknown; grpcCode?: grpc.status }) {
    super(code, reason, options);
    this.grpcCode = options?.grpcCode;
  }
}

export interface CaClientOptions {
  /** `host:port` of the CA, e.g. `istiod.istio-system.svc:15012`. */
  readonly address: string;
  /** PEM root(s) that issued the CA server's certificate. */
  readonly rootCertPem: string | readonly string[];
  /** DNS name to verify in the server certificate, when it is not the host of `address`. */
  readonly serverName?: string;
  /** Bearer token, or a function read before every call (a projected service-account token rotates). */
  readonly token: string | (() => string | Promise<string>);
  /** `clusterid` header (default "Kubernetes"). */
  readonly clusterId?: string;
  /** Extra headers on every call (ztunnel's CA_HEADER_*); keys must be valid gRPC metadata keys. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Deadline per call (default 10 s). */
  readonly timeoutMs?: number;
  readonly logger?: Logger;
}

export interface CreateCertificateOptions {
  /** Ask on `identity`'s behalf (ImpersonatedIdentity); for node proxies. */
  readonly impersonate?: boolean;
  /** Requested lifetime; omitted or <= 0 lets the CA choose (Istio: 24 h). */
  readonly ttlSeconds?: number;
}

/** A token provider that re-reads `path` on every call, as a projected service-account token requires. */
export function readTokenFile(path: string): () => Promise<string> {
  return async () => (await readFile(path, 'utf8')).trim();
}

export class CaClient {
  readonly address: string;
  readonly #client: grpc.Client;
  readonly #method = caServiceDefinition().service['CreateCertificate']!;
  readonly #token: () => string | Promise<string>;
  readonly #baseMetadata: grpc.Metadata;
  readonly #timeoutMs: number;
  readonly #log: Logger | undefined;
  readonly #calls = new Set<grpc.ClientUnaryCall>();
  readonly #pending = new Set<Promise<unknown>>();
  #closed = false;

  constructor(options: CaClientOptions) {
    const { timeoutMs = DEFAULT_TIMEOUT_MS, clusterId = DEFAULT_CLUSTER_ID, headers = {} } = options;
    if (!(timeoutMs > 0)) throw new RangeError(`CaClient timeoutMs must be > 0, got ${timeoutMs}`);
    const roots = splitPemChain(options.rootCertPem);
    if (roots.length === 0) throw new RangeError('CaClient rootCertPem holds no PEM certificate');
    this.#baseMetadata = new grpc.Metadata();
    this.#baseMetadata.set('clusterid', clusterId);
    for (const [key, value] of Object.entries(headers)) {
      if (RESERVED_HEADERS.has(key.toLowerCase())) throw new RangeError(`CaClient header "${key}" is set by the client itself`);
      // Metadata.set throws for keys that are not valid gRPC metadata keys.
      this.#baseMetadata.set(key, value);
    }
    const token = options.token;
    this.#token = typeof token === 'function' ? token : () => token;
    this.#timeoutMs = timeoutMs;
    this.#log = options.logger;
    this.address = options.address;
    const channelOptions: grpc.ChannelOptions = {};
    if (options.serverName !== undefined) {
      channelOptions['grpc.ssl_target_name_override'] = options.serverName;
      channelOptions['grpc.default_authority'] = options.serverName;
    }
    this.#client = new grpc.Client(options.address, grpc.credentials.createSsl(Buffer.from(roots.join(''))), channelOptions);
  }

  /**
   * Gets a certificate for `identity` with a fresh key. Rejects with `CaClientError` whose code says
   * whether the CA was unreachable, refused, or answered with something unusable.
   */
  async createCertificate(identity: Identity, options: CreateCertificateOptions = {}): Promise<WorkloadCertificate> {
    if (this.#closed) throw new CaClientError('CA_CLIENT_ERR_CLOSED', 'CA client is closed');
    const work = this.#create(identity, options);
    this.#pending.add(work);
    try {
      return await work;
    } finally {
      this.#pending.delete(work);
    }
  }

  async #create(identity: Identity, options: CreateCertificateOptions): Promise<WorkloadCertificate> {
    const metadata = this.#baseMetadata.clone();
    metadata.set('authorization', `Bearer ${await this.#readToken()}`);
    const keys = await generateKeyPair();
    const request: IstioCertificateRequest = {
      csr: await createCsr(identity, keys),
      validity_duration: Math.max(0, Math.floor(options.ttlSeconds ?? 0)),
    };
    if (options.impersonate) request.metadata = { fields: { [IMPERSONATED_IDENTITY_KEY]: { stringValue: identity.uri } } };
    const response = await this.#call(request, metadata, identity);
    const certificate = await assemble(identity, keys.publicKey, response.cert_chain ?? [], await privateKeyToPem(keys.privateKey));
    this.#log?.debug({ identity: identity.uri, notAfter: certificate.notAfter.toISOString() }, 'received workload certificate');
    return certificate;
  }

  async #readToken(): Promise<string> {
    let token: string;
    try {
      token = (await this.#token()).trim();
    } catch (cause) {
      throw new CaClientError('CA_CLIENT_ERR_TOKEN', `could not read the CA bearer token: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    }
    if (!token) throw new CaClientError('CA_CLIENT_ERR_TOKEN', 'the CA bearer token is empty');
    return token;
  }

  #call(request: IstioCertificateRequest, metadata: grpc.Metadata, identity: Identity): Promise<IstioCertificateResponse> {
    if (this.#closed) return Promise.reject(new CaClientError('CA_CLIENT_ERR_CLOSED', 'CA client is closed'));
    return new Promise((resolve, reject) => {
      const call = this.#client.makeUnaryRequest<IstioCertificateRequest, IstioCertificateResponse>(
        this.#method.path,
        this.#method.requestSerialize as (value: IstioCertificateRequest) => Buffer,
        this.#method.responseDeserialize as (value: Buffer) => IstioCertificateResponse,
        request,
        metadata,
        { deadline: Date.now() + this.#timeoutMs },
        (err, value) => {
          this.#calls.delete(call);
          if (err) reject(this.#describe(err, identity));
          else resolve(value ?? {});
        },
      );
      this.#calls.add(call);
    });
  }

  #describe(err: grpc.ServiceError, identity: Identity): CaClientError {
    const opts = { cause: err, grpcCode: err.code };
    if (err.code === grpc.status.UNAVAILABLE) {
      return new CaClientError('CA_CLIENT_ERR_UNAVAILABLE', `CA at ${this.address} is unreachable: ${err.details}`, opts);
    }
    if (err.code === grpc.status.DEADLINE_EXCEEDED) {
      return new CaClientError('CA_CLIENT_ERR_UNAVAILABLE', `CA at ${this.address} did not answer within ${this.#timeoutMs} ms`, opts);
    }
    if (err.code === grpc.status.CANCELLED && this.#closed) {
      return new CaClientError('CA_CLIENT_ERR_CLOSED', 'CA client was destroyed during the request', opts);
    }
    return new CaClientError('CA_CLIENT_ERR_REJECTED', `CA at ${this.address} refused ${identity.uri}: ${grpc.status[err.code]}: ${err.details}`, opts);
  }

  /** Refuses new requests, waits for those under way, then closes the channel. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#pending]);
    this.#client.close();
  }

  /** Cancels requests under way (they reject with CA_CLIENT_ERR_CLOSED) and closes the channel. */
  destroy(): void {
    this.#closed = true;
    for (const call of this.#calls) call.cancel();
    this.#calls.clear();
    this.#client.close();
  }
}

function badResponse(identity: Identity, what: string): CaClientError {
  return new CaClientError('CA_CLIENT_ERR_BAD_RESPONSE', `CA response for ${identity.uri} is unusable: ${what}`);
}

function selfSigned(cert: X509Certificate): boolean {
  return cert.checkIssued(cert) && cert.verify(cert.publicKey);
}

/**
 * Checks a `cert_chain` (leaf first, roots last; an element may hold several PEMs) against what was
 * asked for, and splits it. Roots are the self-signed certificates at the end.
 */
async function assemble(identity: Identity, publicKey: webcrypto.CryptoKey, chain: readonly string[], privateKeyPem: string): Promise<WorkloadCertificate> {
  const pems = splitPemChain(chain);
  if (pems.length === 0) throw badResponse(identity, 'cert_chain holds no PEM certificate');
  let certs;
  try {
    certs = pems.map((pem) => parseCertificate(pem));
  } catch (err) {
    throw badResponse(identity, err instanceof MeshError ? err.reason : 'a certificate cannot be parsed');
  }
  const leaf = certs[0]!;
  if (leaf.uris.length !== 1 || leaf.uris[0] !== identity.uri) {
    throw badResponse(identity, `the leaf certificate is for ${leaf.uris.length ? leaf.uris.join(', ') : 'no URI'}, not the requested identity`);
  }
  const ours = Buffer.from(await webcrypto.subtle.exportKey('spki', publicKey));
  if (!ours.equals(leaf.x509.publicKey.export({ type: 'spki', format: 'der' }))) {
    throw badResponse(identity, 'the leaf certificate does not certify the key of our CSR');
  }
  if (leaf.isCa) throw badResponse(identity, 'the leaf certificate is a CA certificate');
  let firstRoot = certs.length;
  while (firstRoot > 1 && selfSigned(certs[firstRoot - 1]!.x509)) firstRoot--;
  if (firstRoot === certs.length) throw badResponse(identity, 'cert_chain does not end with a self-signed root');
  const roots = certs.slice(firstRoot);
  for (let i = 0; i < firstRoot; i++) {
    const child = certs[i]!.x509;
    const issuers = i + 1 < firstRoot ? [certs[i + 1]!.x509] : roots.map((r) => r.x509);
    if (!issuers.some((issuer) => child.checkIssued(issuer) && child.verify(issuer.publicKey))) {
      throw badResponse(identity, `certificate ${i} of cert_chain is not signed by the one after it`);
    }
  }
  return {
    identity,
    privateKeyPem,
    certPem: leaf.pem,
    chainPem: certs.slice(1, firstRoot).map((c) => c.pem),
    rootsPem: roots.map((c) => c.pem),
    notBefore: leaf.notBefore,
    notAfter: leaf.notAfter,
  };
}
