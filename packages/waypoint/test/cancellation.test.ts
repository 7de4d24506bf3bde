/** LazyAbort: the signal, whenever it is made, agrees with `abort`. */
import test from 'ava';
import { LazyAbort } from '../src/upstream/cancellation.js';

test('a signal taken before abort aborts with the first reason; later reasons are ignored', (t) => {
  const c = new LazyAbort();
  const signal = c.signal;
  t.is(c.signal, signal, 'one signal');
  t.false(signal.aborted);
  t.false(c.aborted);
  let seen: unknown;
  signal.addEventListener('abort', () => {
    seen = signal.reason;
  });
  const first = new Error('first');
  c.abort(first);
  c.abort(new Error('second'));
  t.true(c.aborted);
  t.is(c.reason, first);
  t.is(seen, first);
});

test('a signal taken after abort is already aborted with the reason', (t) => {
  const c = new LazyAbort();
  t.is(c.reason, undefined);
  const reason = new Error('gone');
  c.abort(reason);
  t.true(c.signal.aborted);
  t.is(c.signal.reason, reason);
});
