/** The end of every suite's run: its figures written as JSON, and its report printed. */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { SuiteContext } from '../suite.js';

/** Writes `report` to `<outDir>/<name>.json` (the directory made if need be), then prints `text`. */
export async function publishReport(ctx: SuiteContext, outDir: string, name: string, report: unknown, text: string): Promise<void> {
  const file = path.join(outDir, `${name}.json`);
  await mkdir(outDir, { recursive: true });
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  ctx.out(text);
  ctx.log(`wrote ${file}`);
}
