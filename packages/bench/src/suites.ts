/**
 * The suites `pnpm bench <name>` knows. Adding one is a module exporting a Suite plus one line here; each
 * is loaded only when asked for, so a suite's dependencies cost the others nothing.
 */
import type { Suite } from './suite.js';

export const SUITES: Readonly<Record<string, () => Promise<Suite>>> = {
  hbone: async () => (await import('./hbone/suite.js')).hboneSuite,
  xds: async () => (await import('./xds/suite.js')).xdsSuite,
  ztunnel: async () => (await import('./ztunnel/suite.js')).ztunnelSuite,
};
