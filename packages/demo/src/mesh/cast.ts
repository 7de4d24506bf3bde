/**
 * The demo's workloads, found in the mesh's config by namespace and `app` label (the Ready pod when there
 * are replicas), with what the scenes print about them: pod, node, address, SPIFFE identity.
 */
import type { LocalMesh } from '@ambit/local-mesh';
import { DemoError } from './errors.js';

export interface Workload {
  readonly app: string;
  /** The pod's `version` label, if any (the versions of one service share its `app`). */
  readonly version: string | undefined;
  readonly namespace: string;
  readonly pod: string;
  readonly node: string;
  readonly ip: string;
  readonly serviceAccount: string;
  /** spiffe://<trust domain>/ns/<namespace>/sa/<service account> */
  readonly identity: string;
}

export const TRUST_DOMAIN = 'cluster.local';

type Obj = Record<string, unknown>;

function record(value: unknown): Obj {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Obj) : {};
}

function isReady(pod: Obj): boolean {
  const conditions = record(pod['status'])['conditions'];
  return Array.isArray(conditions) && conditions.some((c) => record(c)['type'] === 'Ready' && record(c)['status'] === 'True');
}

/** Finds the Ready pod of `namespace` labelled `app=<app>`; DEMO_ERR_CAST when the config has none. */
export async function findWorkload(mesh: LocalMesh, namespace: string, app: string): Promise<Workload> {
  return (await findWorkloads(mesh, namespace, app))[0]!;
}

/** Every Ready pod of `namespace` labelled `app=<app>` (the versions of a service), in config order; DEMO_ERR_CAST when there is none. */
export async function findWorkloads(mesh: LocalMesh, namespace: string, app: string): Promise<Workload[]> {
  const pods = (await mesh.resources()).filter((o) => {
    const meta = record(o['metadata']);
    return o['kind'] === 'Pod' && meta['namespace'] === namespace && record(meta['labels'])['app'] === app;
  });
  const ready = pods.filter(isReady);
  if (ready.length === 0) {
    throw new DemoError('DEMO_ERR_CAST', `the demo needs a Ready pod labelled app=${app} in namespace ${namespace}; the config has ${pods.length} such pod(s), none Ready`);
  }
  return ready.map((pod) => workloadOf(mesh, namespace, app, pod));
}

function workloadOf(mesh: LocalMesh, namespace: string, app: string, pod: Obj): Workload {
  const name = String(record(pod['metadata'])['name']);
  const spec = record(pod['spec']);
  const serviceAccount = typeof spec['serviceAccountName'] === 'string' ? spec['serviceAccountName'] : 'default';
  const placed = mesh.cluster.pods.get(name)!;
  return {
    app,
    version: (() => {
      const v = record(record(pod['metadata'])['labels'])['version'];
      return typeof v === 'string' ? v : undefined;
    })(),
    namespace,
    pod: name,
    node: placed.node,
    ip: placed.ip,
    serviceAccount,
    identity: `spiffe://${TRUST_DOMAIN}/ns/${namespace}/sa/${serviceAccount}`,
  };
}
