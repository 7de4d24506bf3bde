#!/usr/bin/env node
/**
 * `ambit-control-plane`: reads the mesh from Kubernetes-style YAML, serves it to ztunnels over delta xDS
 * and signs their workload certificates, on one gRPC/TLS port (istiod's 15012), with an admin port.
 *
 * Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT) or --help; 1 when startup fails or a second
 * signal forces the stop; 2 for bad flags.
 */
import * as grpc from '@grpc/grpc-js';
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

/** grpc-js logs through console by default; send its (error-level) messages to pino instead. */
function routeGrpcLogs(logger: Logger): void {
  const log = logger.child({ component: 'grpc' });
  const text = (args: unknown[]): string => args.map(String).join(' ');
  grpc.setLogger({
    error: (...args: unknown[]) => log.error(text(args)),
    info: (...args: unknown[]) => log.info(text(args)),
    debug: (...args: unknown[]) => log.debug(text(args)),
  });
  grpc.setLogVerbosity(grpc.logVerbosity.ERROR);
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

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: stopping now');
        plane.destroy();
        resolve(1);
        return;
      }
      stopping = true;
      logger.info({ signal }, 'shutting down');
      plane
        .close(config.drainMs)
        .then(() => source.close())
        .then(
          () => {
            logger.info('stopped');
            resolve(0);
          },
          (err: unknown) => {
            logger.error({ err }, 'shutdown failed');
            plane.destroy();
            resolve(1);
          },
        );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ambit-control-plane: unexpected failure: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
