/**
 * routeGrpcLogs: grpc-js's messages reach the process's pino logger (component grpc) instead of the
 * console, and only at error level.
 */
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { routeGrpcLogs } from '../src/process/index.js';
import { captureLogger } from './helpers/mesh.js';

test('grpc-js errors go to the logger as one text line; info and debug are not passed on', (t) => {
  const { logger, records } = captureLogger();
  routeGrpcLogs(logger);
  grpc.experimental.log(grpc.logVerbosity.ERROR, 'subchannel', 3, 'failed');
  grpc.experimental.log(grpc.logVerbosity.INFO, 'connected');
  grpc.experimental.log(grpc.logVerbosity.DEBUG, 'picked');
  t.is(records.length, 1);
  t.like(records[0], { level: 50, component: 'grpc' });
  t.regex(String(records[0]!['msg']), /subchannel 3 failed/);
});
