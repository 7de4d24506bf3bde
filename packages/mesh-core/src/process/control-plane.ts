/**
 * How a proxy reaches the control plane from its startup configuration: the xDS connection and the CA
 * client, each trusting the root certificate in its file (verified under another name when the address is
 * an IP or a tunnel), presenting the service-account token from its file (re-read for every connection,
 * since a projected token rotates), and naming the cluster.
 */
import { readFile } from 'node:fs/promises';
import { CaClient, readTokenFile } from '../identity/index.js';
import type { Logger } from '../telemetry/index.js';

/** The part of a proxy's startup configuration that says how to reach and trust the control plane. */
export interface ControlPlaneSettings {
  readonly xdsRootCaPath: string;
  /** The name to verify in the control plane's certificate instead of the host of its address. */
  readonly altXdsHostname: string | undefined;
  readonly caRootCaPath: string;
  /** The same for the CA. */
  readonly altCaHostname: string | undefined;
  readonly authTokenPath: string;
  readonly clusterId: string;
}

/** The connection half of an xDS client's options (its `tls`, `token` and `headers`). */
export interface XdsConnectionOptions {
  readonly tls: { readonly rootCa: string; readonly serverName?: string };
  readonly token: () => Promise<string>;
  readonly headers: Readonly<Record<string, string>>;
}

/** Reads the control plane's root; rejects with the file's error when it cannot be read. */
export async function xdsConnectionOptions(settings: ControlPlaneSettings): Promise<XdsConnectionOptions> {
  return {
    tls: { rootCa: await readFile(settings.xdsRootCaPath, 'utf8'), ...(settings.altXdsHostname === undefined ? {} : { serverName: settings.altXdsHostname }) },
    token: readTokenFile(settings.authTokenPath),
    headers: { clusterid: settings.clusterId },
  };
}

/** A CA client for `address` (logging as component `ca-client`); rejects when the CA's root cannot be read. */
export async function connectCa(address: string, settings: ControlPlaneSettings, logger: Logger): Promise<CaClient> {
  return new CaClient({
    address,
    rootCertPem: await readFile(settings.caRootCaPath, 'utf8'),
    ...(settings.altCaHostname === undefined ? {} : { serverName: settings.altCaHostname }),
    token: readTokenFile(settings.authTokenPath),
    clusterId: settings.clusterId,
    logger: logger.child({ component: 'ca-client' }),
  });
}
