export { EnvConfigError, EnvReader, parseDuration, parseServerAddress } from './env.js';
export type { Env } from './env.js';
