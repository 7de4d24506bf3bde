#!/usr/bin/env node
/**
 * `ambit-ztunnel`: the node agent, run in its node's network namespace (host network) with CAP_NET_ADMIN.
 * Configured by environment variables (see docs/ztunnel.md): it connects to the control plane's xDS and CA
 * (roots from `XDS_ROOT_CA` / `CA_ROOT_CA`, bearer token from the `AUTH_TOKEN` file, `NODE_NAME` for its
 * node's workloads), or reads `LOCAL_XDS_PATH` instead of (or on top of) xDS; installs capture; serves.
 *
 * SIGTERM, SIGINT and `POST /quitquitquit` drain (stop accepting, let connections finish until the drain
 * deadline, close the rest, remove the capture rules) and exit 0. A second signal stops at once and exits 1.
 *
 * Exit codes: 0 after a drain; 1 when startup fails or a second signal forces the stop; 2 for bad config.
 */
import { Registry } from 'prom-client';
import { SecretManager, type CaClient, type Identity, type WorkloadCertificate } from '@ambit/mesh-core/identity';
import { connectCa, routeGrpcLogs, runMain, runUntilStopped, xdsConnectionOptions } from '@ambit/mesh-core/process';
import { createLogger, type Logger } from '@ambit/mesh-core/telemetry';
import { XdsClient, proxyNodeId } from '@ambit/xds';
import { Ztunnel, type DataPathPlan, type SyncStatus } from './app.js';
import { CaptureListeners, CaptureManager, dialTransparent } from './capture/index.js';
import { parseConfig, type Config } from './config.js';
import { LocalConfigError } from './errors.js';
import { applyLocalConfig, loadLocalConfig } from './state/local-config.js';
import { StateStore } from './state/store.js';
import { WireMirror } from './state/wire.js';
import { XdsStateUpdater } from './state/xds-updater.js';
import { WorkerPool } from './workers/worker-pool.js';

/** Everything main owns besides the app, closed after it. */
interface Owned {
  xds?: XdsClient;
  updater?: XdsStateUpdater;
  ca?: CaClient;
  secrets?: SecretManager;
  store?: StateStore;
  /** The state in wire form, kept only when worker threads run the data path. */
  mirror?: WireMirror;
}

/** The secret manager, fetching from the CA on the workloads' behalf; without a CA every fetch fails clearly. */
async function secretsFor(config: Config, logger: Logger, owned: Owned): Promise<SecretManager> {
  let fetch: (identity: Identity) => Promise<WorkloadCertificate>;
  if (config.caAddress === undefined) {
    fetch = (identity) => Promise.reject(new Error(`no CA configured (CA_ADDRESS is empty): cannot get a certificate for ${identity.uri}`));
  } else {
    const ca = await connectCa(config.caAddress, config, logger);
    owned.ca = ca;
    const ttlSeconds = Math.floor(config.secretTtlMs / 1000);
    fetch = (identity) => ca.createCertificate(identity, { impersonate: true, ttlSeconds });
  }
  return new SecretManager({ fetch, logger: logger.child({ component: 'secrets' }) });
}

/** The state: xDS, a local file, or both (the file first). */
async function stateFor(config: Config, logger: Logger, registry: Registry, owned: Owned): Promise<SyncStatus> {
  const store = new StateStore({ logger });
  owned.store = store;
  if (config.workerThreads > 1) owned.mirror = new WireMirror();
  if (config.localXdsPath !== undefined) {
    const local = await loadLocalConfig(config.localXdsPath);
    const snapshot = applyLocalConfig(store, local, owned.mirror);
    logger.info({ path: config.localXdsPath, workloads: snapshot.workloads.size, services: snapshot.services.size, policies: snapshot.policies.size }, 'local config applied');
  }
  if (config.xdsAddress === undefined) return { synced: true, pending: () => [] };
  const xds = new XdsClient({
    target: config.xdsAddress,
    node: {
      id: proxyNodeId('ztunnel', config.instanceIp, config.podName, config.podNamespace),
      metadata: { NAME: config.podName, NAMESPACE: config.podNamespace, INSTANCE_IPS: config.instanceIp, NODE_NAME: config.nodeName, CLUSTER_ID: config.clusterId },
    },
    ...(await xdsConnectionOptions(config)),
    logger: logger.child({ component: 'xds' }),
    registry,
  });
  owned.xds = xds;
  const updater = new XdsStateUpdater({ client: xds, store, logger, ...(owned.mirror === undefined ? {} : { mirror: owned.mirror }) });
  owned.updater = updater;
  xds.start();
  return updater;
}

async function closeOwned(owned: Owned): Promise<void> {
  owned.updater?.destroy();
  await owned.xds?.close();
  await owned.secrets?.close();
  await owned.ca?.close();
  await owned.store?.close();
}

async function main(): Promise<number> {
  // A ConfigError ends the process with exit code 2 (runMain).
  const config = parseConfig(process.env);
  const logger = createLogger({ level: config.logLevel });
  routeGrpcLogs(logger);
  const registry = new Registry();
  const owned: Owned = {};
  const capture = new CaptureManager({
    logger,
    ports: { outbound: config.ports.outbound, inboundPlain: config.ports.inboundPlaintext, inboundHbone: config.ports.inbound },
  });

  let app: Ztunnel;
  let quit!: () => void;
  const quitRequested = new Promise<string>((resolve) => (quit = () => resolve('quitquitquit')));
  try {
    const sync = await stateFor(config, logger, registry, owned);
    const secrets = await secretsFor(config, logger, owned);
    owned.secrets = secrets;
    const ports = { outbound: config.ports.outbound, inboundPlain: config.ports.inboundPlaintext, inboundHbone: config.ports.inbound };
    const mirror = owned.mirror;
    // One data-path thread (this one), or worker threads fed from this thread's xDS and secret manager.
    const dataPath: DataPathPlan =
      mirror === undefined
        ? {
            dialer: { dial: (source, target) => dialTransparent(source, target, { mark: config.packetMark }) },
            listen: (servers) => CaptureListeners.open(servers, { mark: config.packetMark, ports }),
          }
        : { workers: new WorkerPool({ count: config.workerThreads, config, mirror, secrets, logger, listen: { ports, mark: config.packetMark, transparentDial: true } }) };
    app = await Ztunnel.start({ config, logger, store: owned.store!, sync, secrets, registry, capture, onQuit: () => quit(), ...dataPath });
  } catch (err) {
    const reason = err instanceof LocalConfigError || err instanceof Error ? err.message : String(err);
    logger.fatal({ err }, `cannot start: ${reason}`);
    capture.destroy();
    await closeOwned(owned);
    return 1;
  }

  return await runUntilStopped({
    logger,
    requested: quitRequested,
    stop: async (cause) => {
      logger.info({ cause }, 'shutting down');
      const outcome = await app.drain();
      await closeOwned(owned);
      logger.info({ outcome }, 'ztunnel stopped');
      return 0;
    },
    destroy: () => app.destroy(),
  });
}

runMain('ambit-ztunnel', main);
