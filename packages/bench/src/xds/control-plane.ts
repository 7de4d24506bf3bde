/**
 * The control plane under test, as the real command (`ambit-control-plane`) in its own process, so that
 * its CPU and the client's are separate. Its JSON log tells when it serves and, for every snapshot, when
 * it was published, how long reading and computing it took, and when the xDS server had encoded it.
 */
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Child, raceChild } from '../lib/child.js';
import type { Cleanup } from '../lib/cleanup.js';

/** `dist/src/main.js` of @ambit/control-plane, next to its index. */
export const CONTROL_PLANE_MAIN = path.join(path.dirname(fileURLToPath(import.meta.resolve('@ambit/control-plane'))), 'main.js');

/** One `published mesh snapshot` log line. */
export interface PublishedSnapshot {
  readonly version: number;
  /** When the line was logged (epoch ms, millisecond resolution). */
  readonly time: number;
  readonly readMs: number;
  readonly computeMs: number;
  readonly addresses: number;
  readonly authorizations: number;
}

export interface Serving {
  readonly grpc: string;
  readonly rootCertPem: string;
}

/** Where `--profile` puts the control plane's CPU profile and its log with the GC trace. */
export const PROFILE_FILES = { cpuProfile: 'control-plane.cpuprofile', log: 'control-plane.log' } as const;

export class ControlPlaneProcess {
  readonly child: Child;
  readonly serving: Promise<Serving>;
  readonly #snapshots = new Map<number, PublishedSnapshot>();
  readonly #waiters = new Map<number, (s: PublishedSnapshot) => void>();
  /** Log time of each version's "serving new snapshot" line. */
  readonly #served = new Map<number, number>();
  readonly #servedWaiters = new Map<number, (time: number) => void>();

  private constructor(child: Child, serving: Promise<Serving>) {
    this.child = child;
    this.serving = serving;
  }

  /**
   * Starts the command on free loopback ports with a state directory for its generated CA. With
   * `profileDir`, it runs with `--cpu-prof` (written there when it exits) and `--trace-gc`, and its whole
   * stdout (JSON log lines and GC lines, in order) is copied there.
   */
  static async start(configDir: string, stateDir: string, cleanup: Cleanup, profileDir?: string): Promise<ControlPlaneProcess> {
    let onServing!: (line: Record<string, unknown>) => void;
    const servingLine = new Promise<Record<string, unknown>>((resolve) => (onServing = resolve));
    const early: Record<string, unknown>[] = [];
    let onLogLine = (line: Record<string, unknown>): void => void early.push(line);
    const nodeArgs =
      profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${PROFILE_FILES.cpuProfile}`, '--trace-gc'];
    const copy = profileDir === undefined ? undefined : createWriteStream(path.join(profileDir, PROFILE_FILES.log));
    if (copy !== undefined) cleanup.defer(() => new Promise<void>((resolve) => copy.end(resolve)));
    const child = await Child.start(
      'control-plane',
      process.execPath,
      [...nodeArgs, CONTROL_PLANE_MAIN, '--config', configDir, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', stateDir, '--log-level', 'info'],
      {
        cleanup,
        onStdoutLine: (text) => {
          copy?.write(`${text}\n`);
          let line: Record<string, unknown>;
          try {
            line = JSON.parse(text) as Record<string, unknown>;
          } catch {
            return;
          }
          if (line['msg'] === 'control plane serving') onServing(line);
          else if (line['msg'] === 'published mesh snapshot' || line['msg'] === 'serving new snapshot') onLogLine(line);
        },
      },
    );
    const serving = servingLine.then(async (line) => ({
      grpc: String(line['grpc']),
      rootCertPem: await readFile(String(line['rootCert']), 'utf8'),
    }));
    const plane = new ControlPlaneProcess(child, serving);
    onLogLine = (line) => plane.#logLine(line);
    for (const line of early) plane.#logLine(line);
    return plane;
  }

  /** The snapshot with `version`, once published. */
  snapshot(version: number, timeoutMs: number, signal: AbortSignal): Promise<PublishedSnapshot> {
    const known = this.#snapshots.get(version);
    if (known) return Promise.resolve(known);
    return raceChild(this.child, timeoutMs, signal, `the control plane did not publish snapshot ${version}`, () => new Promise((resolve) => this.#waiters.set(version, resolve)));
  }

  /** When the xDS server had encoded snapshot `version` (its log time, millisecond resolution). */
  served(version: number, timeoutMs: number, signal: AbortSignal): Promise<number> {
    const known = this.#served.get(version);
    if (known !== undefined) return Promise.resolve(known);
    return raceChild(this.child, timeoutMs, signal, `the control plane did not serve snapshot ${version}`, () => new Promise((resolve) => this.#servedWaiters.set(version, resolve)));
  }

  #logLine(line: Record<string, unknown>): void {
    if (line['msg'] === 'published mesh snapshot') this.#published(line);
    else this.#servedLine(line);
  }

  #servedLine(line: Record<string, unknown>): void {
    const version = Number(line['version']);
    const time = Date.parse(String(line['time']));
    if (!Number.isFinite(version) || !Number.isFinite(time)) return;
    this.#served.set(version, time);
    this.#servedWaiters.get(version)?.(time);
    this.#servedWaiters.delete(version);
  }

  #published(line: Record<string, unknown>): void {
    const snapshot: PublishedSnapshot = {
      version: Number(line['version']),
      time: Date.parse(String(line['time'])),
      readMs: Number(line['read_ms']),
      computeMs: Number(line['compute_ms']),
      addresses: Number(line['addresses']),
      authorizations: Number(line['authorizations']),
    };
    // A line without the fields (an older control plane) is not a snapshot this harness can time.
    if (!Number.isFinite(snapshot.time) || !Number.isFinite(snapshot.readMs) || !Number.isFinite(snapshot.version)) return;
    this.#snapshots.set(snapshot.version, snapshot);
    this.#waiters.get(snapshot.version)?.(snapshot);
    this.#waiters.delete(snapshot.version);
  }
}
