/**
 * The control plane under test, as the real command (`ambit-control-plane`) in its own process, so that
 * its CPU and the client's are separate. Its JSON log tells when it serves and, for every snapshot, when
 * it was published and how long reading and computing it took.
 */
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

export class ControlPlaneProcess {
  readonly child: Child;
  readonly serving: Promise<Serving>;
  readonly #snapshots = new Map<number, PublishedSnapshot>();
  readonly #waiters = new Map<number, (s: PublishedSnapshot) => void>();

  private constructor(child: Child, serving: Promise<Serving>) {
    this.child = child;
    this.serving = serving;
  }

  /** Starts the command on free loopback ports with a state directory for its generated CA. */
  static async start(configDir: string, stateDir: string, cleanup: Cleanup): Promise<ControlPlaneProcess> {
    let onServing!: (line: Record<string, unknown>) => void;
    const servingLine = new Promise<Record<string, unknown>>((resolve) => (onServing = resolve));
    const early: Record<string, unknown>[] = [];
    let onPublished = (line: Record<string, unknown>): void => void early.push(line);
    const child = await Child.start(
      'control-plane',
      process.execPath,
      [CONTROL_PLANE_MAIN, '--config', configDir, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', stateDir, '--log-level', 'info'],
      {
        cleanup,
        onStdoutLine: (text) => {
          let line: Record<string, unknown>;
          try {
            line = JSON.parse(text) as Record<string, unknown>;
          } catch {
            return;
          }
          if (line['msg'] === 'control plane serving') onServing(line);
          else if (line['msg'] === 'published mesh snapshot') onPublished(line);
        },
      },
    );
    const serving = servingLine.then(async (line) => ({
      grpc: String(line['grpc']),
      rootCertPem: await readFile(String(line['rootCert']), 'utf8'),
    }));
    const plane = new ControlPlaneProcess(child, serving);
    onPublished = (line) => plane.#published(line);
    for (const line of early) plane.#published(line);
    return plane;
  }

  /** The snapshot with `version`, once published. */
  snapshot(version: number, timeoutMs: number, signal: AbortSignal): Promise<PublishedSnapshot> {
    const known = this.#snapshots.get(version);
    if (known) return Promise.resolve(known);
    return raceChild(this.child, timeoutMs, signal, `the control plane did not publish snapshot ${version}`, () => new Promise((resolve) => this.#waiters.set(version, resolve)));
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
