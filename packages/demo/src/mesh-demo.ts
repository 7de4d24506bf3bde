/**
 * `pnpm demo` (scripts/demo.sh), as root: the local mesh demo (see mesh/run-demo.ts and mesh/scenes.ts).
 *
 *   mesh-demo.js [--config <file or dir>] [--prefix <run name>]
 *
 * Exit codes: 0 when every scene behaved, 1 on a failure (the reason on stderr), 2 on a bad command line,
 * 130 after SIGINT/SIGTERM. Everything is torn down on each of them.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { LocalMesh } from '@ambit/local-mesh';
import { silentLogger } from '@ambit/mesh-core/telemetry';
import { DemoError } from './mesh/errors.js';
import { runDemo } from './mesh/run-demo.js';

const DEFAULT_CONFIG = path.resolve(import.meta.dirname, '..', '..', '..', '..', 'deploy', 'examples');
const USAGE = 'usage: mesh-demo [--config <file or directory>] [--prefix <run name, 1-16 of [a-z0-9]>]\n';

const out = (line = ''): void => void process.stdout.write(`${line}\n`);
/** Set on SIGINT/SIGTERM: the run then ends with 130, whatever the interrupted scene throws. */
let stopping = false;

function options(argv: readonly string[]): { config: string; prefix?: string } {
  try {
    const { values } = parseArgs({ args: [...argv], strict: true, allowPositionals: false, options: { config: { type: 'string' }, prefix: { type: 'string' } } });
    return { config: path.resolve(values.config ?? DEFAULT_CONFIG), ...(values.prefix === undefined ? {} : { prefix: values.prefix }) };
  } catch (cause) {
    throw new DemoError('DEMO_ERR_USAGE', `${(cause as Error).message}\n${USAGE}`, { cause });
  }
}

async function main(): Promise<number> {
  const opts = options(process.argv.slice(2));
  if (process.getuid?.() !== 0) {
    throw new DemoError('DEMO_ERR_NOT_ROOT', 'the local mesh needs root (network namespaces, nftables, transparent sockets): run `sudo bash scripts/demo.sh`');
  }
  let mesh: LocalMesh | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) process.exit(130);
    stopping = true;
    process.stderr.write(`\n${signal}: tearing the mesh down\n`);
    // The testbed's own signal hook has already killed the processes and removed the namespaces; what is
    // left is the mesh's directory (and, if the mesh is not up yet, its exit hook takes it).
    void (mesh?.destroy() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // The story goes to stdout; the machinery's failures surface as errors with their processes' output.
  await runDemo({ ...opts, logger: silentLogger(), out, onMesh: (m) => (mesh = m) });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (stopping) return; // the signal handler exits once the mesh is gone
    const code = err instanceof DemoError && err.code === 'DEMO_ERR_USAGE' ? 2 : 1;
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(code);
  },
);
