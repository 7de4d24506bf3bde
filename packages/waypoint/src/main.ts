#!/usr/bin/env node
/**
 * `ambit-waypoint`: one waypoint, run in its own pod (not captured by ztunnel). Configured by environment
 * variables (`startup-config.ts`, docs/waypoint.md "Running it"): it asks the control plane over delta ADS
 * for the Listener `waypoint/<namespace>/<gateway>` and what that references, gets its certificate for
 * `spiffe://<td>/ns/<namespace>/sa/<gateway>` from the CA with its token, and serves HBONE on 15008.
 *
 * SIGTERM and SIGINT drain: readiness turns false, no new tunnels are accepted, GOAWAY goes to every
 * connection, requests in flight finish until the drain deadline, then what is left is closed; the process
 * exits 0. A second signal stops at once and exits 1.
 *
 * Exit codes: 0 after a drain; 1 when startup fails or a second signal forces the stop; 2 for bad
 * configuration (every problem on stderr).
 */
import { Registry } from 'prom-client';
import { Identity, SecretManager, type CaClient } from '@ambit/mesh-core/identity';
import { connectCa, routeGrpcLogs, runMain, runUntilStopped, xdsConnectionOptions } from '@ambit/mesh-core/process';
import { createLogger, type Logger } from '@ambit/mesh-core/telemetry';
import { XdsClient, proxyNodeId } from '@ambit/xds';
import { Waypoint } from './app.js';
import { WaypointSnapshotBuilder } from './config/snapshot-builder.js';
import { WaypointXdsUpdater } from './config/xds-updater.js';
import { parseStartupConfig, type StartupConfig } from './startup-config.js';

/** Everything main owns besides the app, closed after it. */
interface Owned {
  xds?: XdsClient;
  updater?: WaypointXdsUpdater;
  builder?: WaypointSnapshotBuilder;
  ca?: CaClient;
  secrets?: SecretManager;
}

/** The xDS client → updater → snapshot builder chain; the builder is the data path's snapshot source. */
async function configuration(config: StartupConfig, logger: Logger, registry: Registry, owned: Owned): Promise<WaypointSnapshotBuilder> {
  const xds = new XdsClient({
    target: config.xdsAddress,
    node: {
      id: proxyNodeId('waypoint', config.instanceIp, config.podName, config.podNamespace),
      metadata: {
        NAME: config.podName,
        NAMESPACE: config.podNamespace,
        INSTANCE_IPS: config.instanceIp,
        CLUSTER_ID: config.clusterId,
        SERVICE_ACCOUNT: config.gatewayName,
        WAYPOINT_LISTENER: config.listenerName,
      },
    },
    ...(await xdsConnectionOptions(config)),
    // The client names its own component.
    logger,
    registry,
  });
  owned.xds = xds;
  const builder = new WaypointSnapshotBuilder({ listenerName: config.listenerName, identity: config.identity, initialFetchTimeoutMs: config.initialFetchTimeoutMs, logger });
  owned.builder = builder;
  owned.updater = new WaypointXdsUpdater({ client: xds, builder, logger });
  xds.start();
  return builder;
}

/** The waypoint's own certificate: asked for with its token, never on anyone's behalf. */
async function secretsFor(config: StartupConfig, logger: Logger, owned: Owned): Promise<SecretManager> {
  const ca = await connectCa(config.caAddress, config, logger);
  owned.ca = ca;
  const ttlSeconds = Math.floor(config.secretTtlMs / 1000);
  return new SecretManager({ fetch: (identity) => ca.createCertificate(identity, { ttlSeconds }), logger: logger.child({ component: 'secrets' }) });
}

async function closeOwned(owned: Owned): Promise<void> {
  owned.updater?.destroy();
  await owned.xds?.close();
  await owned.secrets?.close();
  await owned.ca?.close();
}

async function main(): Promise<number> {
  // A StartupConfigError ends the process with exit code 2 (runMain).
  const config = parseStartupConfig(process.env);
  const logger = createLogger({ level: config.logLevel });
  routeGrpcLogs(logger);
  const registry = new Registry();
  const owned: Owned = {};
  const identity = Identity.parse(config.identity);

  let app: Waypoint;
  try {
    const snapshots = await configuration(config, logger, registry, owned);
    owned.secrets = await secretsFor(config, logger, owned);
    app = await Waypoint.start({
      identity,
      trustDomain: config.trustDomain,
      certificates: owned.secrets,
      snapshots,
      logger,
      registry,
      listen: config.ports,
    });
  } catch (err) {
    logger.fatal({ err }, `cannot start: ${err instanceof Error ? err.message : String(err)}`);
    await closeOwned(owned);
    return 1;
  }
  logger.info({ listener: config.listenerName, xds: config.xdsAddress, ca: config.caAddress, drainDeadlineMs: config.drainDeadlineMs }, 'waypoint running');

  return await runUntilStopped({
    logger,
    stop: async (signal) => {
      logger.info({ signal, deadlineMs: config.drainDeadlineMs }, 'draining');
      await app.close(config.drainDeadlineMs);
      await closeOwned(owned);
      logger.info('waypoint stopped');
      return 0;
    },
    destroy: () => app.destroy(),
  });
}

runMain('ambit-waypoint', main);
