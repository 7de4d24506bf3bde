/** The environment readers now live in mesh-core (the waypoint reads its environment the same way). */
export { EnvReader, parseDuration, parseServerAddress } from '@ambit/mesh-core/config';
export type { Env } from '@ambit/mesh-core/config';
