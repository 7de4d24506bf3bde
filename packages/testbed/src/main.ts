#!/usr/bin/env node
/**
 * scripts/testbed.sh's CLI:
 *
 *   up <cluster.yaml> [--prefix NAME]   build a detached cluster from Kubernetes YAML; prints its namespaces
 *   down [NAME…] [--stale] [--all]      remove the named runs; with no name, every run not owned by a live
 *                                       process (detached, crashed, orphaned); --stale only crashed and
 *                                       orphaned ones (safe beside a developer's detached cluster); --all every run
 *   status [--json]                     list the runs on this machine
 *
 * Exit status: 0 done, 1 failed, 2 bad usage.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createLogger, silentLogger } from '@ambit/mesh-core/telemetry';
import { MeshError } from '@ambit/mesh-core/errors';
import { TestbedError } from './errors.js';
import { down, surveyRuns } from './reaper.js';
import type { RunStatus } from './reaper.js';
import { DEFAULT_STATE_DIR } from './state.js';
import { Testbed } from './testbed.js';

const USAGE = 'usage: testbed.sh up <cluster.yaml> [--prefix NAME] | down [NAME...] [--stale] [--all] | status [--json]';
const out = (line: string): void => void process.stdout.write(`${line}\n`);

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { prefix: { type: 'string' }, all: { type: 'boolean' }, stale: { type: 'boolean' }, json: { type: 'boolean' } },
  });
  if (process.getuid?.() !== 0 && command !== undefined && ['up', 'down', 'status'].includes(command)) {
    throw new TestbedError('TESTBED_ERR_NOT_ROOT', 'the testbed needs root: network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN');
  }
  switch (command ?? '') {
    case 'up': {
      const [file] = positionals;
      if (file === undefined || positionals.length > 1) return usage();
      const logger = process.env['LOG_LEVEL'] ? createLogger() : silentLogger();
      const cluster = await Testbed.create(readFileSync(file, 'utf8'), {
        detached: true,
        logger,
        ...(values.prefix === undefined ? {} : { prefix: values.prefix }),
      });
      describe(cluster);
      return 0;
    }
    case 'down': {
      const removed = down(DEFAULT_STATE_DIR, { prefixes: positionals, all: values.all === true, stale: values.stale === true });
      const missing = positionals.filter((p) => !removed.some((r) => r.prefix === p));
      for (const run of removed) out(`removed run ${run.prefix} (${run.state}, ${run.namespaces.length} namespaces)`);
      if (removed.length === 0) out('nothing to remove');
      for (const prefix of missing) out(`no run named ${prefix}`);
      return missing.length > 0 ? 1 : 0;
    }
    case 'status': {
      const runs = surveyRuns(DEFAULT_STATE_DIR);
      if (values.json === true) out(JSON.stringify(runs, null, 2));
      else if (runs.length === 0) out('no runs');
      else runs.forEach(printRun);
      return 0;
    }
    default:
      return usage();
  }
}

function describe(cluster: Testbed): void {
  out(`run ${cluster.prefix} is up (fabric ${cluster.fabricNs})`);
  for (const node of cluster.nodes.values()) out(`  node ${node.name}  ${node.ns}  ${node.ip}  pods ${node.podCidr}`);
  for (const pod of cluster.pods.values()) {
    out(`  pod  ${pod.namespace}/${pod.name}  ${pod.ns}  ${pod.ip}  on ${pod.node}${pod.nodeInterface ? ` via ${pod.nodeInterface}` : ' (host network)'}`);
  }
  const first = cluster.pods.values().next().value ?? cluster.nodes.values().next().value;
  if (first) out(`enter one with: ip netns exec ${first.ns} bash`);
  out(`remove it with: scripts/testbed.sh down ${cluster.prefix}`);
}

function printRun(run: RunStatus): void {
  const owner = run.record?.owner ? ` pid ${run.record.owner.pid}` : '';
  out(`${run.prefix}  ${run.state}${owner}  ${run.namespaces.length} namespaces${run.record?.createdAt ? `  since ${run.record.createdAt}` : ''}`);
  for (const pod of run.record?.pods ?? []) out(`  pod ${pod.namespace}/${pod.name}  ${pod.ns}  ${pod.ip}  on ${pod.node}`);
}

function usage(): number {
  process.stderr.write(`${USAGE}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    const usageError = (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true;
    process.stderr.write(`testbed: ${err instanceof MeshError || usageError ? (err as Error).message : String((err as Error).stack)}\n`);
    process.exitCode = usageError ? 2 : 1;
  },
);
