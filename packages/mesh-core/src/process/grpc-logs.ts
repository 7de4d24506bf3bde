/**
 * grpc-js logs through `console` unless told otherwise, which would put unstructured lines among a
 * binary's JSON logs. Every binary routes them into its pino logger instead, at error level only (grpc-js's
 * info and debug output is per-call noise; its tracers stay available through GRPC_TRACE).
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../telemetry/index.js';

/** Sends grpc-js's messages to `logger.child({ component: 'grpc' })`; process-wide, so called once, in main. */
export function routeGrpcLogs(logger: Logger): void {
  const log = logger.child({ component: 'grpc' });
  const text = (args: unknown[]): string => args.map(String).join(' ');
  grpc.setLogger({
    error: (...args: unknown[]) => log.error(text(args)),
    info: (...args: unknown[]) => log.info(text(args)),
    debug: (...args: unknown[]) => log.debug(text(args)),
  });
  grpc.setLogVerbosity(grpc.logVerbosity.ERROR);
}
