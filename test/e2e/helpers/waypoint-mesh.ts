/**
 * The waypoint end-to-end tests' mesh: `@ambit/local-mesh` over `fixtures/waypoint-mesh/` (control plane in
 * node-a's namespace, a ztunnel per node, the real `ambit-waypoint` in its pod through the waypoints
 * extension), a name server (apps/name-server.ts) on 8080 in every server pod, and requests sent from the
 * `client` pod by apps/load-client.ts — the full path client → ztunnel → waypoint → ztunnel → server.
 */
import { writeFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { LocalMesh, until, waypointsExtension, type MeshProcess } from '@ambit/local-mesh';
import { AppProcess } from '@ambit/testbed';
import { uniquePrefix } from '@ambit/testbed/test-support';
import type { LoadSpec, Outcome } from '../apps/load-client.js';

export { until } from '@ambit/local-mesh';

export const WAYPOINT_MESH = path.join(import.meta.dirname, '..', '..', '..', 'e2e', 'fixtures', 'waypoint-mesh');
const NAME_SERVER = path.join(import.meta.dirname, '..', 'apps', 'name-server.js');
const LOAD_CLIENT = path.join(import.meta.dirname, '..', 'apps', 'load-client.js');

export const WAYPOINT_POD = 'waypoint-0';
export const WAYPOINT_PROCESS = 'waypoint-shop-waypoint';
export const WAYPOINT_ID = 'spiffe://cluster.local/ns/shop/sa/waypoint';
export const CLIENT_ID = 'spiffe://cluster.local/ns/shop/sa/client';

export const POD_IP = {
  client: '10.244.0.10',
  mirror: '10.244.0.30',
  'od-a': '10.244.0.40',
  'web-v1': '10.244.1.10',
  'web-v2': '10.244.1.11',
  flaky: '10.244.1.20',
  slow: '10.244.1.21',
  'od-b': '10.244.1.40',
  api: '10.244.1.50',
} as const;
export type ServerPod = Exclude<keyof typeof POD_IP, 'client'>;
export const SERVER_PODS: readonly ServerPod[] = ['mirror', 'od-a', 'web-v1', 'web-v2', 'flaky', 'slow', 'od-b', 'api'];

export const VIP = { web: '10.96.0.10', flaky: '10.96.0.20', slow: '10.96.0.21', mirror: '10.96.0.30', od: '10.96.0.40', api: '10.96.0.50' } as const;

/** What the load client sends (apps/load-client.ts); the port defaults to 80. */
export type RequestSpec = Omit<LoadSpec, 'port'> & { readonly port?: number };
export type { Outcome };

export class WaypointMesh {
  readonly mesh: LocalMesh;
  readonly servers = new Map<ServerPod, MeshProcess>();

  constructor(mesh: LocalMesh) {
    this.mesh = mesh;
  }

  /** The running waypoint process (the latest started). */
  get waypoint(): MeshProcess {
    return this.mesh.process(WAYPOINT_PROCESS);
  }

  /** Sends the requests from the `client` pod and returns every outcome, in order. */
  async send(spec: RequestSpec): Promise<Outcome[]> {
    const full = { port: 80, ...spec };
    const child = this.mesh.cluster.spawn('client', process.execPath, [LOAD_CLIENT, JSON.stringify(full)]);
    const app = new AppProcess(child, `load client ${full.method ?? 'GET'} ${full.host}:${full.port}${full.path}`);
    // A safety net far above what the requests take (their own timeouts end every one of them).
    const result = await app.waitFor('result', ((full.timeoutMs ?? 10_000) + 5_000) * Math.max(1, Math.ceil((full.count ?? 1) / (full.concurrency ?? 1))));
    return result['results'] as Outcome[];
  }

  /** One request. */
  async one(spec: Omit<RequestSpec, 'count' | 'concurrency'>): Promise<Outcome> {
    return (await this.send(spec))[0]!;
  }

  /** The requests a server pod has logged so far (what reached it, retries and mirrors included). */
  hits(pod: ServerPod, match: (r: Readonly<Record<string, unknown>>) => boolean = () => true): number {
    return this.servers.get(pod)!.logs.filter((r) => r['event'] === 'request' && match(r)).length;
  }

  /** Makes every request to `pod` answer `status` (undefined: back to normal), without going through the mesh. */
  async forceStatus(pod: ServerPod, status: number | undefined): Promise<void> {
    const file = this.#controlFile(pod);
    if (status === undefined) await rm(file, { force: true });
    else await writeFile(file, String(status));
  }

  /** The waypoint's `/config_dump` (from inside its pod). */
  async configDump(): Promise<string> {
    const r = await this.mesh.httpGet(WAYPOINT_POD, 15000, '/config_dump');
    if (r.status !== 200) throw new Error(`the waypoint's /config_dump answered ${r.status}: ${r.body}`);
    return r.body;
  }

  /** The version of the waypoint's current configuration snapshot ('' before the first). */
  async snapshotVersion(): Promise<string> {
    const dump = JSON.parse(await this.configDump()) as { snapshot: { version?: string } | null };
    return dump.snapshot?.version ?? '';
  }

  /**
   * Waits until the waypoint has applied a snapshot newer than `version` and `holds` (a request showing the
   * change, say) is true: a config edit has reached it.
   */
  async waitForConfig(version: string, holds: () => Promise<boolean>, what: string): Promise<void> {
    await until(async () => (await this.snapshotVersion()) !== version && (await holds()), () => `the waypoint to apply ${what}`);
  }

  /** The waypoint's access-log records (one per request). */
  access(): Readonly<Record<string, unknown>>[] {
    return this.waypoint.logs.filter((r) => r['component'] === 'access');
  }

  /** Brings everything down at once. */
  async destroy(): Promise<void> {
    await this.mesh.destroy();
  }

  #controlFile(pod: ServerPod): string {
    return path.join(this.mesh.dir, `${pod}.status`);
  }

  /**
   * Starts another name server in `pod`, answering on `port` with the pod's name (a second port of the
   * same workload); it goes with the mesh.
   */
  async startExtraServer(pod: ServerPod, port: number): Promise<MeshProcess> {
    return await this.mesh.startProcess(pod, `server-${pod}-${port}`, process.execPath, [NAME_SERVER, pod, String(port)], {
      ready: (proc) => proc.logs.some((r) => r['event'] === 'listening'),
    });
  }

  /** Starts the name server of every server pod. */
  async startServers(): Promise<void> {
    for (const pod of SERVER_PODS) {
      const p = await this.mesh.startProcess(pod, `server-${pod}`, process.execPath, [NAME_SERVER, pod, '8080', this.#controlFile(pod)], {
        ready: (proc) => proc.logs.some((r) => r['event'] === 'listening'),
      });
      this.servers.set(pod, p);
    }
  }
}

/** Builds the mesh (run names `<prefix><random>`) with the waypoint up and the servers listening. On failure nothing is left. */
export async function createWaypointMesh(prefix: string): Promise<WaypointMesh> {
  const mesh = await LocalMesh.start({
    config: WAYPOINT_MESH,
    prefix: uniquePrefix(prefix),
    controlPlaneLogLevel: 'warn',
    extensions: [waypointsExtension()],
  });
  const wm = new WaypointMesh(mesh);
  try {
    await wm.startServers();
    return wm;
  } catch (err) {
    await mesh.destroy();
    throw err;
  }
}

/** Counts of a field over outcomes (`pod`, `status`, `error`), absent values as `-`. */
export function tally(outcomes: readonly Outcome[], field: 'pod' | 'status' | 'error'): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of outcomes) {
    const key = String(o[field] ?? '-');
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}
