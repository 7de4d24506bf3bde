/**
 * The local HBONE demo: everything the foundation provides, end to end, on loopback.
 *
 *  1. A mesh CA serves Istio's `IstioCertificateService` over gRPC + TLS.
 *  2. Two workloads, `sleep` and `httpbin`, each get their certificate from it over that RPC (a CSR with
 *     their SPIFFE ID, authenticated by a bearer token that entitles them to that identity only), through
 *     a secret manager that caches and rotates it.
 *  3. httpbin runs an HBONE server in front of an echo app; sleep opens a tunnel through an HBONE client.
 *     Each side proves its identity in the mutual TLS 1.3 handshake and checks the other's.
 *  4. A third identity that the server's policy does not allow is answered 401, and a client that expects
 *     the wrong server identity refuses to talk.
 *
 * It prints who proved what at each step and exits 0 when every step behaved as described.
 */
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import {
  CaClient,
  CertificateAuthorityService,
  Identity,
  SecretManager,
  StaticTokenAuthenticator,
  addCaService,
  createRootCa,
  issueServingCertificate,
  parseCertificate,
  type WorkloadCertificate,
} from '@ambit/mesh-core/identity';
import { HboneClient, HboneError, HboneServer, type InboundTunnelRequest } from '@ambit/mesh-core/hbone';
import { silentLogger } from '@ambit/mesh-core/telemetry';

const TRUST_DOMAIN = 'cluster.local';
const DAY_MS = 24 * 3600 * 1000;
const sleep = new Identity(TRUST_DOMAIN, 'demo', 'sleep');
const httpbin = new Identity(TRUST_DOMAIN, 'demo', 'httpbin');
const intruder = new Identity(TRUST_DOMAIN, 'other', 'intruder');

const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

async function startCa(): Promise<{ address: string; rootPem: string; server: grpc.Server }> {
  const root = await createRootCa(TRUST_DOMAIN, 365 * DAY_MS);
  const tokens = new StaticTokenAuthenticator([
    ['token-sleep', { identity: sleep }],
    ['token-httpbin', { identity: httpbin }],
    ['token-intruder', { identity: intruder }],
  ]);
  const ca = new CertificateAuthorityService({ ca: root, trustDomain: TRUST_DOMAIN, authenticator: tokens, logger: silentLogger() });
  const serving = await issueServingCertificate(root, ['localhost'], DAY_MS);
  const server = new grpc.Server();
  addCaService(server, ca);
  const creds = grpc.ServerCredentials.createSsl(
    null,
    [{ private_key: Buffer.from(serving.privateKeyPem), cert_chain: Buffer.from([serving.certPem, ...serving.chainPem].join('\n')) }],
    false,
  );
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p)));
  });
  return { address: `localhost:${port}`, rootPem: root.certPem, server };
}

/** A workload's view of identity: a CA client with its token, behind a secret manager. */
function workloadSecrets(caAddress: string, rootPem: string, token: string): { secrets: SecretManager; ca: CaClient } {
  const ca = new CaClient({ address: caAddress, rootCertPem: rootPem, token, logger: silentLogger() });
  const secrets = new SecretManager({ fetch: (id) => ca.createCertificate(id), logger: silentLogger() });
  return { secrets, ca };
}

function describe(cert: WorkloadCertificate): string {
  const info = parseCertificate(cert.certPem);
  return `${info.identities.map(String).join(', ')} (serial ${info.serialNumber.slice(0, 12)}…, expires ${info.notAfter.toISOString()})`;
}

async function startEchoApp(): Promise<net.Server> {
  const app = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.setEncoding('utf8');
    let received = '';
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('end', () => socket.end(`httpbin app received ${JSON.stringify(received)} from ${socket.remoteAddress}:${socket.remotePort}`));
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  return app;
}

async function exchange(tunnel: NodeJS.ReadWriteStream & { end(data: string): void }, message: string): Promise<string> {
  let reply = '';
  tunnel.setEncoding('utf8');
  tunnel.on('data', (chunk: string) => (reply += chunk));
  const done = new Promise<void>((resolve, reject) => {
    tunnel.on('end', resolve);
    tunnel.on('error', reject);
  });
  tunnel.end(message);
  await done;
  return reply;
}

async function main(): Promise<void> {
  out('Ambit HBONE demo: two workload identities, certificates from the mesh CA, one HBONE tunnel.\n');
  const ca = await startCa();
  out(`1. Mesh CA (istio.v1.auth.IstioCertificateService) listening on ${ca.address}, trust domain ${TRUST_DOMAIN}`);

  const sleepSide = workloadSecrets(ca.address, ca.rootPem, 'token-sleep');
  const httpbinSide = workloadSecrets(ca.address, ca.rootPem, 'token-httpbin');
  const intruderSide = workloadSecrets(ca.address, ca.rootPem, 'token-intruder');
  out('2. Each workload sends a CSR for its SPIFFE ID with its own bearer token:');
  out(`   sleep   got ${describe(await sleepSide.secrets.getCertificate(sleep))}`);
  out(`   httpbin got ${describe(await httpbinSide.secrets.getCertificate(httpbin))}`);
  try {
    await sleepSide.ca.createCertificate(httpbin);
    throw new Error('the CA issued httpbin\'s identity to sleep\'s token');
  } catch (err) {
    if (!(err instanceof Error) || !/PERMISSION_DENIED|may not/i.test(`${err.message}`)) throw err;
    out(`   sleep's token asking for httpbin's identity is refused: ${err.message}`);
  }

  const app = await startEchoApp();
  const appPort = (app.address() as net.AddressInfo).port;
  const seen: InboundTunnelRequest[] = [];
  const server = new HboneServer({
    identity: httpbin,
    certificates: httpbinSide.secrets,
    trustDomain: TRUST_DOMAIN,
    logger: silentLogger(),
    // The policy hook: only workloads of namespace "demo" may open tunnels to httpbin.
    authorize: (req) => {
      seen.push(req);
      return req.peerIdentity.namespace === 'demo';
    },
  });
  const hbone = await server.listen(0, '127.0.0.1');
  const destination = `127.0.0.1:${hbone.port}`;
  out(`3. httpbin's HBONE server on ${destination} (mutual TLS 1.3, ALPN h2), app on 127.0.0.1:${appPort}`);

  const client = new HboneClient({ certificates: sleepSide.secrets, logger: silentLogger() });
  const tunnel = await client.connect({
    source: sleep,
    destination,
    expectedIdentities: [httpbin],
    authority: `127.0.0.1:${appPort}`,
    forwardedFor: '10.0.1.5:41234',
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  });
  const request = seen.at(-1);
  if (!request) throw new Error('the server saw no request');
  out('   sleep → httpbin: CONNECT accepted (200)');
  out(`   the client proved ${request.peerIdentity.uri} to the server (its certificate, verified against the mesh root)`);
  out(`   the server proved ${httpbin.uri} to the client (the only identity sleep would accept)`);
  out(`   the server received :authority ${request.authority}, forwarded ${request.forwarded ?? '-'}, traceparent ${request.traceparent ?? '-'}`);
  const reply = await exchange(tunnel, 'hello from sleep');
  out(`   through the tunnel: ${reply}`);

  out('4. What the mesh refuses:');
  const intruderClient = new HboneClient({ certificates: intruderSide.secrets, logger: silentLogger() });
  await intruderSide.secrets.getCertificate(intruder);
  try {
    await intruderClient.connect({ source: intruder, destination, expectedIdentities: [httpbin], authority: `127.0.0.1:${appPort}` });
    throw new Error('the intruder was let in');
  } catch (err) {
    if (!(err instanceof HboneError) || err.status !== 401) throw err;
    out(`   ${intruder.uri} proved its identity, and httpbin's policy answered ${err.status}: ${err.message}`);
  }
  try {
    await client.connect({ source: sleep, destination, expectedIdentities: [intruder], authority: `127.0.0.1:${appPort}` });
    throw new Error('the client accepted the wrong server identity');
  } catch (err) {
    if (!(err instanceof HboneError)) throw err;
    out(`   sleep expecting ${intruder.uri} refuses the server: ${err.message}`);
  }

  await Promise.all([client.close(), intruderClient.close()]);
  await server.close();
  app.close();
  for (const side of [sleepSide, httpbinSide, intruderSide]) {
    await side.secrets.close();
    await side.ca.close();
  }
  ca.server.forceShutdown();
  out('\nDone: every identity was proven by certificate, and every refusal happened where it should.');
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
