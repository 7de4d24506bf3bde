#!/usr/bin/env node
/**
 * `ambit-control-plane`: reads the mesh from Kubernetes-style YAML, serves it to ztunnels over delta xDS
 * and signs their workload certificates, on one gRPC/TLS port (istiod's 15012), with an admin port.
 *
 * Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT) or --help; 1 when startup fails or a second
 * signal forces the stop; 2 for bad flags.
 */
import { routeGrpcLogs, runMain, runUntilStopped } from '@ambit/mesh-core/process';
import { createLogger, type Logger } from '@ambit/mesh-core/telemetry';
import { ControlPlane } from './app.js';
import { ConfigError, HelpRequested, parseConfig, type ControlPlaneConfig } from './config.js';
import { MeshModel } from './model/mesh-model.js';
import type { SnapshotSource } from './model/snapshot.js';

/** A snapshot source whose lifetime main owns. */
interface ManagedSource extends SnapshotSource {
  close(): Promise<void>;
}

/** Where snapshots come from: the model over `--config`, re-read whenever the input changes. */
async function createSource(config: ControlPlaneConfig, logger: Logger): Promise<ManagedSource> {
  const model = await MeshModel.load(config.configPath, { trustDomain: config.trustDomain, clusterId: config.clusterId, logger });
  await model.watch();
  return model;
}

async function main(): Promise<number> {
  let config: ControlPlaneConfig;
  try {
    config = parseConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof HelpRequested) {
      process.stdout.write(err.reason);
      return 0;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`ambit-control-plane: ${err.reason}\n\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger({ level: config.logLevel });
  routeGrpcLogs(logger);

  let source: ManagedSource | undefined;
  let plane: ControlPlane;
  try {
    source = await createSource(config, logger);
    plane = await ControlPlane.start({ config, source, logger });
  } catch (err) {
    logger.fatal({ err }, `cannot start: ${err instanceof Error ? err.message : String(err)}`);
    await source?.close();
    return 1;
  }

  const started = source;
  return await runUntilStopped({
    logger,
    stop: async (signal) => {
      logger.info({ signal }, 'shutting down');
      try {
        await plane.close(config.drainMs);
        await started.close();
      } catch (err) {
        logger.error({ err }, 'shutdown failed');
        plane.destroy();
        return 1;
      }
      logger.info('stopped');
      return 0;
    },
    destroy: () => plane.destroy(),
  });
}

runMain('ambit-control-plane', main);
