/**
 * runUntilStopped: the first SIGTERM/SIGINT (or another request) starts the graceful stop and its exit
 * code is the result; a signal during it forces the stop with exit code 1. Signals come from an emitter
 * here, as `process` delivers them (an event named by the signal, with the signal as its argument).
 */
import test from 'ava';
import { EventEmitter } from 'node:events';
import { runUntilStopped } from '../src/process/index.js';
import { captureLogger } from './helpers/mesh.js';

/** Lets pending promise callbacks run (the stop starts a few microtasks after the signal). */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A graceful stop the test finishes by hand, recording what asked for it. */
function manualStop(): { stop: (cause: string) => Promise<number>; causes: string[]; finish: (code: number) => void; fail: (err: Error) => void } {
  const causes: string[] = [];
  let finish!: (code: number) => void;
  let fail!: (err: Error) => void;
  const done = new Promise<number>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  return {
    causes,
    finish: (code) => finish(code),
    fail: (err) => fail(err),
    stop: (cause) => {
      causes.push(cause);
      return done;
    },
  };
}

test('SIGTERM starts the graceful stop; its exit code is the result', async (t) => {
  const signals = new EventEmitter();
  const { logger, records } = captureLogger();
  const graceful = manualStop();
  let destroyed = 0;
  const result = runUntilStopped({ logger, signals, stop: graceful.stop, destroy: () => destroyed++ });
  t.deepEqual(graceful.causes, [], 'nothing happens before a signal');
  signals.emit('SIGTERM', 'SIGTERM');
  await turn();
  t.deepEqual(graceful.causes, ['SIGTERM']);
  graceful.finish(0);
  t.is(await result, 0);
  t.is(destroyed, 0);
  t.deepEqual(records, []);
});

test('SIGINT works as SIGTERM; the graceful stop may choose another code', async (t) => {
  const signals = new EventEmitter();
  const graceful = manualStop();
  const result = runUntilStopped({ logger: captureLogger().logger, signals, stop: graceful.stop, destroy: () => t.fail('not forced') });
  signals.emit('SIGINT', 'SIGINT');
  await turn();
  graceful.finish(1);
  t.is(await result, 1);
  t.deepEqual(graceful.causes, ['SIGINT']);
});

test('a second signal during the graceful stop forces it: destroy, a warning, exit code 1', async (t) => {
  const signals = new EventEmitter();
  const { logger, records } = captureLogger();
  const graceful = manualStop();
  let destroyed = 0;
  const result = runUntilStopped({ logger, signals, stop: graceful.stop, destroy: () => destroyed++ });
  signals.emit('SIGINT', 'SIGINT');
  await turn();
  signals.emit('SIGTERM', 'SIGTERM');
  t.is(await result, 1);
  t.is(destroyed, 1);
  t.deepEqual(graceful.causes, ['SIGINT'], 'the graceful stop is not started twice');
  t.like(records[0], { level: 40, signal: 'SIGTERM', msg: 'second signal: stopping now' });
  // The graceful stop finishing afterwards changes nothing.
  graceful.finish(0);
  t.is(await result, 1);
});

test('another request starts the graceful stop with its cause; a signal after it forces', async (t) => {
  const signals = new EventEmitter();
  const graceful = manualStop();
  let destroyed = 0;
  const result = runUntilStopped({
    logger: captureLogger().logger,
    signals,
    requested: Promise.resolve('quitquitquit'),
    stop: graceful.stop,
    destroy: () => destroyed++,
  });
  await turn();
  t.deepEqual(graceful.causes, ['quitquitquit']);
  signals.emit('SIGTERM', 'SIGTERM');
  t.is(await result, 1);
  t.is(destroyed, 1);
});

test('a graceful stop that fails rejects the result (main reports it and exits 1)', async (t) => {
  const signals = new EventEmitter();
  const graceful = manualStop();
  const result = runUntilStopped({ logger: captureLogger().logger, signals, stop: graceful.stop, destroy: () => t.fail('not forced') });
  signals.emit('SIGTERM', 'SIGTERM');
  await turn();
  graceful.fail(new Error('close failed'));
  await t.throwsAsync(result, { message: 'close failed' });
});

test('a stop request that fails rejects the result without starting the graceful stop', async (t) => {
  const graceful = manualStop();
  const result = runUntilStopped({
    logger: captureLogger().logger,
    signals: new EventEmitter(),
    requested: Promise.reject(new Error('admin endpoint broke')),
    stop: graceful.stop,
    destroy: () => t.fail('not forced'),
  });
  await t.throwsAsync(result, { message: 'admin endpoint broke' });
  t.deepEqual(graceful.causes, []);
});

test('the handlers stay: every later signal still lands on them, not on a default that would exit', async (t) => {
  const signals = new EventEmitter();
  const graceful = manualStop();
  let destroyed = 0;
  const result = runUntilStopped({ logger: captureLogger().logger, signals, stop: graceful.stop, destroy: () => destroyed++ });
  t.is(signals.listenerCount('SIGTERM'), 1);
  t.is(signals.listenerCount('SIGINT'), 1);
  signals.emit('SIGTERM', 'SIGTERM');
  graceful.finish(0);
  t.is(await result, 0);
  signals.emit('SIGTERM', 'SIGTERM');
  t.is(signals.listenerCount('SIGTERM'), 1);
  t.is(destroyed, 1, 'a signal after the stop still forces whatever is left');
});
