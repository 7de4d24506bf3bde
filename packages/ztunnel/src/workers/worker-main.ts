/**
 * The entry of a data-path worker thread, started by `WorkerPool` with its `WorkerInit` as `workerData`.
 * A start failure has been reported to the main thread (`failed`) before the thread ends with it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { WorkerError } from '../errors.js';
import { DataPathWorker } from './data-path-worker.js';
import type { WorkerInit } from './protocol.js';

if (parentPort === null) throw new WorkerError('worker-main.js runs as a worker thread of ambit-ztunnel, not on its own');
await DataPathWorker.run(parentPort, workerData as WorkerInit);
