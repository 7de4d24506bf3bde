// Bad requests to the CA over real gRPC + TLS: each gets a precise status and message, and the server
// keeps serving good requests afterwards.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import * as grpc from '@grpc/grpc-js';
import {
  CaAuthenticationError,
  Identity,
  StaticTokenAuthenticator,
  bearerTokenFrom,
  createCsr,
  createRootCa,
  generateKeyPair,
  parseCertificate,
} from '../src/identity/index.js';
import { bearer, csrWith, expectStatus, p384Csr, rawCaClient, startCaServer } from './fixtures/ca-harness.js';

const DAY_MS = 24 * 3600 * 1000;
const sleep = Identity.parse('spiffe://cluster.local/ns/default/sa/sleep');
const authenticator = new StaticTokenAuthenticator([['sleep-token', { identity: sleep }]]);

async function setup(t: ExecutionContext) {
  const h = await startCaServer(t, { ca: await createRootCa('cluster.local', DAY_MS), authenticator });
  const call = rawCaClient(t, h);
  // After every refusal test the same server must still sign a good request.
  t.teardown(async () => {
    const res = await call({ csr: await createCsr(sleep, await generateKeyPair()) }, bearer('sleep-token'));
    if (parseCertificate(res.cert_chain![0]!).uris[0] !== sleep.uri) throw new Error('server stopped issuing after refusals');
  });
  return { ...h, call };
}

function metadataWith(...authorization: string[]): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const value of authorization) md.add('authorization', value);
  return md;
}

test('UNAUTHENTICATED without a well-formed "authorization: Bearer" header', async (t) => {
  const { call } = await setup(t);
  const csr = await createCsr(sleep, await generateKeyPair());
  const cases: Array<[grpc.Metadata, RegExp]> = [
    [new grpc.Metadata(), /^missing "authorization: Bearer <token>" header$/],
    [metadataWith('Basic c2xlZXA6cHc='), /^authorization scheme must be "Bearer", got "Basic"$/],
    [metadataWith('sleep-token'), /^authorization scheme must be "Bearer", got "sleep-token"$/],
    [metadataWith('Bearer'), /^authorization header has an empty bearer token$/],
    // ("Bearer " with a trailing space never arrives: HTTP/2 drops field values with trailing whitespace.)
    [metadataWith('Bearer  sleep-token'), /outside the RFC 6750 token alphabet/],
    [metadataWith('Bearer a b'), /outside the RFC 6750 token alphabet/],
  ];
  for (const [md, message] of cases) await expectStatus(t, call({ csr }, md), grpc.status.UNAUTHENTICATED, message);
});

test('UNAUTHENTICATED for an unknown token; the scheme is case-insensitive', async (t) => {
  const { call } = await setup(t);
  const csr = await createCsr(sleep, await generateKeyPair());
  await expectStatus(t, call({ csr }, bearer('someone-elses-token')), grpc.status.UNAUTHENTICATED, /^bearer token is not recognised$/);
  const res = await call({ csr }, metadataWith('bearer sleep-token'));
  t.is(res.cert_chain?.length, 2);
});

test('INVALID_ARGUMENT for a missing, oversized, unparsable, tampered or non-P-256 CSR', async (t) => {
  const { call } = await setup(t);
  const md = bearer('sleep-token');
  await expectStatus(t, call({}, md), grpc.status.INVALID_ARGUMENT, /^csr is empty$/);
  await expectStatus(t, call({ csr: 'x'.repeat(20_000) }, md), grpc.status.INVALID_ARGUMENT, /^csr is 20000 characters; at most 16384 are accepted$/);
  await expectStatus(t, call({ csr: 'not a csr' }, md), grpc.status.INVALID_ARGUMENT, /^CSR is not a valid PEM PKCS#10 request$/);
  const good = await createCsr(sleep, await generateKeyPair());
  const body = Buffer.from(good.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  body[body.length - 8] = body[body.length - 8]! ^ 0x55; // inside the signature
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${body.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  await expectStatus(t, call({ csr: tampered }, md), grpc.status.INVALID_ARGUMENT, /^CSR signature does not verify$/);
  await expectStatus(t, call({ csr: await p384Csr(sleep.uri) }, md), grpc.status.INVALID_ARGUMENT, /^CSR key is not an ECDSA P-256 key$/);
});

test('INVALID_ARGUMENT unless the CSR has exactly one SAN and it is a SPIFFE identity', async (t) => {
  const { call } = await setup(t);
  const md = bearer('sleep-token');
  const cases: Array<[Parameters<typeof csrWith>[0], RegExp]> = [
    [[], /^CSR has no subject alternative name; expected one SPIFFE URI$/],
    [
      [{ type: 'url', value: sleep.uri }, { type: 'url', value: 'spiffe://cluster.local/ns/default/sa/other' }],
      /^CSR has 2 subject alternative names \(URI:spiffe:\/\/cluster.local\/ns\/default\/sa\/sleep, URI:spiffe:\/\/cluster.local\/ns\/default\/sa\/other\); expected exactly one SPIFFE URI$/,
    ],
    [[{ type: 'url', value: sleep.uri }, { type: 'dns', value: 'sleep.default.svc' }], /^CSR has 2 subject alternative names .*DNS:sleep.default.svc/],
    [[{ type: 'url', value: sleep.uri }, { type: 'ip', value: '10.0.0.1' }], /^CSR has 2 subject alternative names .*ip:10.0.0.1/],
    [[{ type: 'dns', value: 'sleep.default.svc' }], /^CSR's subject alternative name DNS:sleep.default.svc is not a SPIFFE URI$/],
    [[{ type: 'url', value: 'https://sleep.default.svc/' }], /^invalid SPIFFE identity "https:\/\/sleep.default.svc\/": must start with "spiffe:\/\/"$/],
    [[{ type: 'url', value: 'spiffe://cluster.local/ns/default/sa/sleep/extra' }], /^invalid SPIFFE identity .*path must be exactly/],
  ];
  for (const [sans, message] of cases) {
    await expectStatus(t, call({ csr: await csrWith(sans) }, md), grpc.status.INVALID_ARGUMENT, message);
  }
});

test('INVALID_ARGUMENT for a bad ImpersonatedIdentity value', async (t) => {
  const { call } = await setup(t);
  const md = bearer('sleep-token');
  const csr = await createCsr(sleep, await generateKeyPair());
  await expectStatus(t, call({ csr, metadata: { fields: { ImpersonatedIdentity: { numberValue: 7 } } } }, md), grpc.status.INVALID_ARGUMENT,
    /^metadata ImpersonatedIdentity must be a string, got numberValue$/);
  await expectStatus(t, call({ csr, metadata: { fields: { ImpersonatedIdentity: { stringValue: 'default/sleep' } } } }, md), grpc.status.INVALID_ARGUMENT,
    /^metadata ImpersonatedIdentity: invalid SPIFFE identity "default\/sleep": must start with "spiffe:\/\/"$/);
  await expectStatus(t, call({ csr, metadata: { fields: { ImpersonatedIdentity: { stringValue: 'spiffe://cluster.local/ns/shop/sa/cart' } } } }, md), grpc.status.INVALID_ARGUMENT,
    /^CSR asks for spiffe:\/\/cluster.local\/ns\/default\/sa\/sleep but ImpersonatedIdentity is spiffe:\/\/cluster.local\/ns\/shop\/sa\/cart$/);
});

test('bearerTokenFrom and StaticTokenAuthenticator, directly', async (t) => {
  t.is(bearerTokenFrom(metadataWith('BEARER abc.def-ghi_jkl~+/==')), 'abc.def-ghi_jkl~+/==');
  // grpc-js will not send two authorization values, but other HTTP/2 clients can.
  t.throws(() => bearerTokenFrom(metadataWith('Bearer a', 'Bearer b')), { instanceOf: CaAuthenticationError, message: /^2 authorization headers; expected exactly one$/ });
  const binary = new grpc.Metadata();
  binary.set('authorization-bin', Buffer.from('x'));
  t.throws(() => bearerTokenFrom(binary), { instanceOf: CaAuthenticationError, message: /missing/ });
  const unknown = await t.throwsAsync(authenticator.authenticate('nope'), { instanceOf: CaAuthenticationError });
  t.is(unknown?.code, 'CA_AUTH_ERR_UNKNOWN_TOKEN');
  t.throws(() => new StaticTokenAuthenticator([['', { identity: sleep }]]), { message: /non-empty RFC 6750 b64token/ });
  t.throws(() => new StaticTokenAuthenticator([['a b', { identity: sleep }]]), { message: /b64token/ });
  t.throws(() => new StaticTokenAuthenticator([['t', { identity: sleep }], ['t', { identity: sleep }]]), { message: /listed twice/ });
  t.throws(() => new StaticTokenAuthenticator([['t', { node: '', mayImpersonate: () => true }]]), { message: /node name is empty/ });
  const node = await new StaticTokenAuthenticator([['n', { node: 'node-b', mayImpersonate: (id) => id.namespace === 'shop' }]]).authenticate('n');
  t.is(node.name, 'node/node-b');
  t.deepEqual(node.identities, []);
  t.true(await node.mayImpersonate!(Identity.parse('spiffe://cluster.local/ns/shop/sa/cart')));
  t.false(await node.mayImpersonate!(sleep));
});
