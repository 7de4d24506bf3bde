// Builds build/Release/sockopt.node with the node-gyp pinned in package.json, against the headers of the
// Node that runs this script (never downloaded: the machines are offline). Called by scripts/setup.sh, because
// pnpm does not run dependencies' build scripts.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const nodedir = path.resolve(process.execPath, '../..');
const header = path.join(nodedir, 'include/node/node_api.h');
if (!existsSync(header)) {
  process.stderr.write(`sockopt: Node headers not found at ${header}; install the Node package that ships them\n`);
  process.exit(1);
}
const nodeGyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
const packageDir = path.resolve(import.meta.dirname, '..');
const result = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`, '--loglevel=warn'], {
  cwd: packageDir,
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
