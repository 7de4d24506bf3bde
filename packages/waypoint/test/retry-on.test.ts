/**
 * The retry decision (`route/retry-on.ts`): which attempt outcomes each Envoy `retry_on` condition covers,
 * and `retriable_status_codes` under `retriable-status-codes`.
 */
import test from 'ava';
import type { RetryCondition, RetryPolicy } from '../src/config/types.js';
import { retriable } from '../src/route/retry-on.js';
import type { AttemptOutcome } from '../src/upstream/outlier.js';

function policy(on: readonly RetryCondition[], statusCodes: readonly number[] = []): RetryPolicy {
  return { on: new Set(on), statusCodes: new Set(statusCodes), numRetries: 1, perTryTimeoutMs: 0, backoffBaseMs: 25, backoffMaxMs: 250 };
}

const status = (s: number): AttemptOutcome => ({ kind: 'status', status: s });
const OUTCOMES: Readonly<Record<string, AttemptOutcome>> = {
  '200': status(200),
  '404': status(404),
  '408': status(408),
  '409': status(409),
  '429': status(429),
  '499': status(499),
  '500': status(500),
  '502': status(502),
  '503': status(503),
  '504': status(504),
  '599': status(599),
  'connect-failure': { kind: 'connect-failure' },
  reset: { kind: 'reset' },
  timeout: { kind: 'timeout' },
  overflow: { kind: 'overflow' },
};

/** What each condition alone retries (every other outcome of OUTCOMES is not retried). */
const COVERS: Readonly<Record<RetryCondition, readonly string[]>> = {
  '5xx': ['500', '502', '503', '504', '599', 'connect-failure', 'reset', 'timeout'],
  'gateway-error': ['502', '503', '504', 'connect-failure', 'reset', 'timeout'],
  reset: ['reset', 'timeout'],
  'connect-failure': ['connect-failure'],
  'retriable-4xx': ['409'],
  // With the codes 429 and 503 listed (see below).
  'retriable-status-codes': ['429', '503'],
};

for (const [condition, covered] of Object.entries(COVERS) as [RetryCondition, readonly string[]][]) {
  test(`retry_on ${condition} alone retries exactly ${covered.join(', ')}`, (t) => {
    const p = policy([condition], [429, 503]);
    const retried = Object.keys(OUTCOMES).filter((name) => retriable(p, OUTCOMES[name]!));
    t.deepEqual(retried, [...covered]);
  });
}

test('retriable-status-codes retries only the listed statuses, whatever their class', (t) => {
  const p = policy(['retriable-status-codes'], [409, 200, 404]);
  t.true(retriable(p, status(409)));
  t.true(retriable(p, status(200)), 'Envoy does not limit the list to errors');
  t.true(retriable(p, status(404)));
  t.false(retriable(p, status(503)), '503 is not listed');
  t.false(retriable(p, { kind: 'connect-failure' }), 'a failure without a status is not a status');
  t.false(retriable(p, { kind: 'reset' }));
});

test('retriable-status-codes without codes retries nothing; codes without the condition are inert', (t) => {
  const empty = policy(['retriable-status-codes']);
  t.false(Object.values(OUTCOMES).some((o) => retriable(empty, o)));
  const inert = policy(['connect-failure'], [409, 503]);
  t.false(retriable(inert, status(409)));
  t.false(retriable(inert, status(503)));
  t.true(retriable(inert, { kind: 'connect-failure' }));
});

test('Istio\'s `retryOn: "503,connect-failure"` as translated: 503 and connect failures, not 502 or a reset', (t) => {
  const p = policy(['connect-failure', 'retriable-status-codes'], [503]);
  t.true(retriable(p, status(503)));
  t.true(retriable(p, { kind: 'connect-failure' }));
  t.false(retriable(p, status(502)));
  t.false(retriable(p, { kind: 'reset' }));
});

test('conditions add up: 5xx with retriable-status-codes 409 retries 409 and every 5xx', (t) => {
  const p = policy(['5xx', 'retriable-status-codes'], [409]);
  t.deepEqual(
    Object.keys(OUTCOMES).filter((name) => retriable(p, OUTCOMES[name]!)),
    ['409', '500', '502', '503', '504', '599', 'connect-failure', 'reset', 'timeout'],
  );
});

test('a request the waypoint\'s own circuit breaker refused is never retried, whatever the policy', (t) => {
  const all = policy(['5xx', 'gateway-error', 'reset', 'connect-failure', 'retriable-4xx', 'retriable-status-codes'], [503]);
  t.false(retriable(all, { kind: 'overflow' }));
});
