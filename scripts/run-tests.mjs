// Runs ava over every compiled test file with TAP output, echoes it, and ends with the one line CI reads:
// `N passed, N failed` (plus `, N skipped` when any were). Exits non-zero when a test failed, a test file
// crashed, or no test ran at all.
import { spawn } from 'node:child_process';

const child = spawn('pnpm', ['exec', 'ava', '--tap', ...process.argv.slice(2)], { stdio: ['ignore', 'pipe', 'inherit'] });
let passed = 0;
let failed = 0;
let skipped = 0;
let buffer = '';
child.stdout.setEncoding('utf8');
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  buffer += chunk;
  let nl;
  while ((nl = buffer.indexOf('\n')) >= 0) {
    const line = buffer.slice(0, nl);
    buffer = buffer.slice(nl + 1);
    if (/^not ok \d+/.test(line)) failed++;
    else if (/^ok \d+ .*# SKIP/.test(line)) skipped++;
    else if (/^ok \d+/.test(line)) passed++;
  }
});
child.on('close', (code) => {
  process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  process.exit(code !== 0 || failed > 0 || passed === 0 ? 1 : 0);
});
