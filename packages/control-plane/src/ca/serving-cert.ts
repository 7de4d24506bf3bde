/**
 * The control plane's own certificate for its gRPC port (xDS + CA), issued by the mesh CA as istiod's is:
 * DNS SANs that clients verify (`istiod.istio-system.svc` by default, and `localhost`), plus istiod's
 * SPIFFE identity so that mesh peers can recognise it.
 */
import {
  Identity,
  generateKeyPair,
  issueLeaf,
  issuedChain,
  parseCertificate,
  privateKeyToPem,
  splitPemChain,
  type CaMaterial,
} from '@ambit/mesh-core/identity';

/** The names ztunnel dials by default (`istiod.istio-system.svc:15012`) and the local one. */
export const DEFAULT_SERVER_NAMES: readonly string[] = Object.freeze(['istiod.istio-system.svc', 'localhost']);
/** A year, but never past the CA's own end: the certificate is issued once per process start. */
const SERVING_TTL_MS = 365 * 24 * 3600 * 1000;

export interface ControlPlaneCertificate {
  readonly identity: Identity;
  readonly dnsNames: readonly string[];
  readonly privateKeyPem: string;
  /** Leaf first, then intermediates: what the TLS server presents. */
  readonly chainPem: string;
  readonly notAfter: Date;
}

/** istiod's identity: `spiffe://<td>/ns/istio-system/sa/istiod`. */
export function controlPlaneIdentity(trustDomain: string): Identity {
  return new Identity(trustDomain, 'istio-system', 'istiod');
}

export async function issueControlPlaneCertificate(
  ca: CaMaterial,
  trustDomain: string,
  dnsNames: readonly string[] = DEFAULT_SERVER_NAMES,
  now = new Date(),
): Promise<ControlPlaneCertificate> {
  const identity = controlPlaneIdentity(trustDomain);
  const keys = await generateKeyPair();
  const caEnd = parseCertificate(ca.certPem).notAfter.getTime();
  const notAfter = new Date(Math.min(now.getTime() + SERVING_TTL_MS, caEnd));
  const certPem = await issueLeaf(ca, {
    publicKey: keys.publicKey,
    uris: [identity.uri],
    dnsNames,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter,
  });
  return {
    identity,
    dnsNames: [...dnsNames],
    privateKeyPem: await privateKeyToPem(keys.privateKey),
    chainPem: splitPemChain([certPem, ...issuedChain(ca)]).join(''),
    notAfter,
  };
}
