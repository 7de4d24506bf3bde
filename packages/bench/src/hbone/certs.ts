/**
 * The benchmark's PKI: one mesh root and two workload certificates (client side, server side), issued by
 * our own CA code and written as PEM files that stunnel, the TLS relays and the HBONE proxies all load.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Identity, createRootCa, issueWorkloadCertificate } from '@ambit/mesh-core/identity';
import type { WorkloadCertificate } from '@ambit/mesh-core/identity';
import type { PemFiles } from '../proxies/config.js';

export const TRUST_DOMAIN = 'cluster.local';
export const CLIENT_IDENTITY = new Identity(TRUST_DOMAIN, 'bench', 'client-proxy');
export const SERVER_IDENTITY = new Identity(TRUST_DOMAIN, 'bench', 'server-proxy');

export interface BenchCertificates {
  readonly client: PemFiles;
  readonly server: PemFiles;
}

const DAY_MS = 24 * 3600 * 1000;

/** Issues the root and both leaves and writes them into `dir` (keys with mode 0600, as stunnel expects). */
export async function writeBenchCertificates(dir: string): Promise<BenchCertificates> {
  const ca = await createRootCa(TRUST_DOMAIN, DAY_MS);
  const caFile = path.join(dir, 'ca.pem');
  await writeFile(caFile, ca.rootsPem.join(''));
  const write = async (name: string, cert: WorkloadCertificate): Promise<PemFiles> => {
    const certFile = path.join(dir, `${name}-cert.pem`);
    const keyFile = path.join(dir, `${name}-key.pem`);
    await writeFile(certFile, [cert.certPem, ...cert.chainPem].join(''));
    await writeFile(keyFile, cert.privateKeyPem, { mode: 0o600 });
    return { identity: cert.identity.uri, certFile, keyFile, caFile };
  };
  const [client, server] = await Promise.all([
    issueWorkloadCertificate(ca, CLIENT_IDENTITY, DAY_MS),
    issueWorkloadCertificate(ca, SERVER_IDENTITY, DAY_MS),
  ]);
  return { client: await write('client', client), server: await write('server', server) };
}
