import test from 'ava';
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { Identity, createIntermediateCa, issueWorkloadCertificate } from '../src/identity/index.js';
import {
  PeerIdentityError,
  clientTlsOptions,
  peerIdentities,
  serverTlsOptions,
  verifyPeerIdentity,
  verifyPeerTrustDomain,
} from '../src/tls/index.js';
import { DAY, TRUST_DOMAIN, clientId, customLeaf, pki, serverId } from './helpers/mesh.js';

const other = Identity.parse('spiffe://cluster.local/ns/other/sa/x');

test('verifyPeerIdentity returns the expected identity the certificate carries', async (t) => {
  const { serverCert } = await pki();
  const cert = new X509Certificate(serverCert.certPem);
  t.is(verifyPeerIdentity(cert, [other, serverId]).uri, serverId.uri);
  // A PeerCertificate (what node:tls hands checkServerIdentity) works the same, through its DER.
  const peer = { raw: cert.raw } as PeerCertificate;
  t.is(verifyPeerIdentity(peer, [serverId]).uri, serverId.uri);
});

test('verifyPeerIdentity names both sides when the identity does not match', async (t) => {
  const { serverCert } = await pki();
  const err = t.throws(() => verifyPeerIdentity(new X509Certificate(serverCert.certPem), [other, clientId]), { instanceOf: PeerIdentityError });
  t.is(err.code, 'TLS_ERR_IDENTITY_MISMATCH');
  t.is(
    err.message,
    `peer identity ${serverId.uri} is not one of the expected identities [${other.uri}, ${clientId.uri}]`,
  );
  t.deepEqual(err.presented.map(String), [serverId.uri]);
});

test('DNS SANs and non-SPIFFE URIs never count as an identity', async (t) => {
  const { root } = await pki();
  const dnsOnly = await customLeaf(root, [
    { type: 'dns', value: 'server.default.svc.cluster.local' },
    { type: 'url', value: 'https://cluster.local/ns/default/sa/server' },
  ]);
  const cert = new X509Certificate(dnsOnly.certPem);
  t.deepEqual(peerIdentities(cert), []);
  const err = t.throws(() => verifyPeerIdentity(cert, [serverId]), { instanceOf: PeerIdentityError });
  t.is(err.code, 'TLS_ERR_NO_SPIFFE_ID');
  t.regex(err.message, /no SPIFFE URI SAN \(DNS SANs are not considered\)/);
  t.is(t.throws(() => verifyPeerTrustDomain(cert, TRUST_DOMAIN), { instanceOf: PeerIdentityError }).code, 'TLS_ERR_NO_SPIFFE_ID');
});

test('a certificate with several SPIFFE IDs matches on any of them', async (t) => {
  const { root } = await pki();
  const multi = await customLeaf(root, [
    { type: 'url', value: 'spiffe://other.domain/ns/a/sa/b' },
    { type: 'url', value: serverId.uri },
  ]);
  const cert = new X509Certificate(multi.certPem);
  t.deepEqual(peerIdentities(cert).map(String), ['spiffe://other.domain/ns/a/sa/b', serverId.uri]);
  t.is(verifyPeerIdentity(cert, [serverId]).uri, serverId.uri);
  t.is(verifyPeerTrustDomain(cert, TRUST_DOMAIN).uri, serverId.uri);
  t.is(verifyPeerTrustDomain(cert, 'other.domain').uri, 'spiffe://other.domain/ns/a/sa/b');
});

test('verifyPeerTrustDomain refuses an identity of another trust domain', async (t) => {
  const { root } = await pki();
  const foreign = await customLeaf(root, [{ type: 'url', value: 'spiffe://evil.example/ns/default/sa/client' }]);
  const err = t.throws(() => verifyPeerTrustDomain(new X509Certificate(foreign.certPem), TRUST_DOMAIN), { instanceOf: PeerIdentityError });
  t.is(err.code, 'TLS_ERR_TRUST_DOMAIN');
  t.is(err.message, 'peer identity spiffe://evil.example/ns/default/sa/client is not in trust domain "cluster.local"');
});

test('a missing peer certificate is reported as such', (t) => {
  for (const peer of [undefined, null, {} as PeerCertificate]) {
    const err = t.throws(() => verifyPeerTrustDomain(peer, TRUST_DOMAIN), { instanceOf: PeerIdentityError });
    t.is(err.code, 'TLS_ERR_NO_PEER_CERT');
  }
});

test('serverTlsOptions: TLS 1.3 only, ALPN h2, client cert required against the mesh roots, chain sent', async (t) => {
  const { root } = await pki();
  const inter = await createIntermediateCa(root, TRUST_DOMAIN, DAY);
  const cert = await issueWorkloadCertificate(inter, serverId, DAY);
  const o = serverTlsOptions(cert, TRUST_DOMAIN);
  t.is(o.minVersion, 'TLSv1.3');
  t.is(o.maxVersion, 'TLSv1.3');
  t.deepEqual(o.ALPNProtocols, ['h2']);
  t.true(o.requestCert);
  t.true(o.rejectUnauthorized);
  t.deepEqual(o.ca, [...root.rootsPem]);
  t.is(o.cert, cert.certPem + inter.certPem);
  t.is(o.key, cert.privateKeyPem);
  t.is(o.verifyClient(new X509Certificate(cert.certPem)).uri, serverId.uri);
  const foreign = await customLeaf(root, [{ type: 'url', value: 'spiffe://evil.example/ns/a/sa/b' }]);
  t.throws(() => o.verifyClient(new X509Certificate(foreign.certPem)), { code: 'TLS_ERR_TRUST_DOMAIN' } as never);
});

test('clientTlsOptions replaces the hostname check with the SPIFFE identity check', async (t) => {
  const { clientCert, serverCert } = await pki();
  const o = clientTlsOptions(clientCert, [serverId]);
  t.is(o.minVersion, 'TLSv1.3');
  t.deepEqual(o.ALPNProtocols, ['h2']);
  t.true(o.rejectUnauthorized);
  const peer = { raw: new X509Certificate(serverCert.certPem).raw } as PeerCertificate;
  // The host name is irrelevant: the certificate has no DNS names and none are checked.
  t.is(o.checkServerIdentity('10.0.0.2', peer), undefined);
  const wrong = clientTlsOptions(clientCert, [other]).checkServerIdentity('10.0.0.2', peer);
  t.true(wrong instanceof PeerIdentityError);
  t.is((wrong as PeerIdentityError).code, 'TLS_ERR_IDENTITY_MISMATCH');
});
