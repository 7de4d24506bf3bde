export { realClock, FakeClock, settle } from './clock.js';
export type { Clock, Timer, TimerOptions } from './clock.js';
export { ExponentialBackoff } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
