/**
 * Waypoints in the local mesh: one real `ambit-waypoint` per waypoint `Gateway` (class `istio-waypoint`)
 * of the mesh's YAML, run in the network namespace of the Gateway's pod — the pod labelled
 * `gateway.networking.k8s.io/gateway-name: <gateway>` in the Gateway's namespace, as istiod's deployment
 * controller labels the waypoint Deployment's pods. The control plane tells ztunnels the waypoint's address
 * (its Service's cluster IP, resolved to that pod), so ztunnels send it HBONE on 15008; the pod itself is
 * not captured (the control plane gives a waypoint's pods no HBONE tunnel), so the waypoint's own HBONE to
 * destination pods goes straight to their nodes' ztunnels.
 *
 * The waypoint authenticates to the control plane's xDS and CA with the token the control plane generated
 * for that Gateway (`<state>/waypoint-tokens/<namespace>/<gateway>.token`), which obtains exactly its
 * identity, `spiffe://<td>/ns/<namespace>/sa/<gateway>`.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalMeshError } from './errors.js';
import type { LocalMesh, MeshExtension } from './local-mesh.js';
import type { MeshProcess } from './mesh-process.js';
import { until } from './wait.js';

/** `ambit-waypoint`: the waypoint package's command entry point. */
export const WAYPOINT_MAIN = path.join(path.dirname(fileURLToPath(import.meta.resolve('@ambit/waypoint'))), 'main.js');
export const WAYPOINT_GATEWAY_CLASS = 'istio-waypoint';
export const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';
const READINESS_PORT = 15021;

/** A waypoint Gateway of the config and the pod its process runs in. */
export interface WaypointSpec {
  readonly namespace: string;
  /** The Gateway's name (also its service account's). */
  readonly gateway: string;
  readonly pod: string;
  readonly ip: string;
}

export interface StartWaypointOptions {
  /** Environment on top of `waypointEnv(…)`. */
  readonly env?: Readonly<Record<string, string>>;
  /** Node.js flags before the script. */
  readonly nodeArgs?: readonly string[];
  readonly waitMs?: number;
}

type Obj = Record<string, unknown>;

function record(value: unknown): Obj {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Obj) : {};
}

/**
 * The waypoint Gateways of `mesh`'s current config, each with its pod (the first one in file order when
 * there are several: one process per Gateway). LOCAL_MESH_ERR_CONFIG when a Gateway has no pod in the mesh.
 */
export async function findWaypoints(mesh: LocalMesh): Promise<WaypointSpec[]> {
  const objects = await mesh.resources();
  const out: WaypointSpec[] = [];
  for (const gateway of objects) {
    if (gateway['kind'] !== 'Gateway' || record(gateway['spec'])['gatewayClassName'] !== WAYPOINT_GATEWAY_CLASS) continue;
    const meta = record(gateway['metadata']);
    const name = String(meta['name']);
    const namespace = typeof meta['namespace'] === 'string' ? meta['namespace'] : 'default';
    const pod = objects.find((o) => {
      const m = record(o['metadata']);
      return o['kind'] === 'Pod' && (m['namespace'] ?? 'default') === namespace && record(m['labels'])[GATEWAY_NAME_LABEL] === name && mesh.cluster.pods.has(String(m['name']));
    });
    if (pod === undefined) {
      throw new LocalMeshError(
        'LOCAL_MESH_ERR_CONFIG',
        `waypoint Gateway ${namespace}/${name} has no pod in the mesh: add a Pod in ${namespace} labelled ${GATEWAY_NAME_LABEL}: ${name}, with a nodeName and a podIP (the waypoint runs in its network namespace)`,
      );
    }
    const podName = String(record(pod['metadata'])['name']);
    out.push({ namespace, gateway: name, pod: podName, ip: mesh.podIp(podName) });
  }
  return out;
}

/** The process name of a waypoint: `waypoint-<namespace>-<gateway>`. */
export function waypointProcessName(spec: Pick<WaypointSpec, 'namespace' | 'gateway'>): string {
  return `waypoint-${spec.namespace}-${spec.gateway}`;
}

/** The waypoint's token file, written by the control plane. */
export function waypointTokenPath(mesh: LocalMesh, spec: Pick<WaypointSpec, 'namespace' | 'gateway'>): string {
  return path.join(mesh.stateDir, 'waypoint-tokens', spec.namespace, `${spec.gateway}.token`);
}

/** The environment a waypoint runs with: the control plane's address and root, its token, who it is. */
export function waypointEnv(mesh: LocalMesh, spec: WaypointSpec, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  return {
    ...mesh.controlPlaneEnv(waypointTokenPath(mesh, spec)),
    GATEWAY_NAME: spec.gateway,
    POD_NAME: spec.pod,
    POD_NAMESPACE: spec.namespace,
    INSTANCE_IP: spec.ip,
    LOG_LEVEL: 'info',
    ...extra,
  };
}

/** The waypoint's `/healthz/ready` from inside its pod; status 0 when nothing answers. */
export async function waypointReadiness(mesh: LocalMesh, spec: Pick<WaypointSpec, 'pod'>): Promise<{ status: number; body: string }> {
  try {
    return await mesh.httpGet(spec.pod, READINESS_PORT, '/healthz/ready');
  } catch {
    return { status: 0, body: '' };
  }
}

/**
 * Starts `ambit-waypoint` for `spec` in its pod and resolves once its readiness answers 200 (a snapshot
 * from the control plane and its certificate in hand). The previous process of that waypoint must have
 * exited; the control plane must have written the waypoint's token (it is waited for).
 */
export async function startWaypoint(mesh: LocalMesh, spec: WaypointSpec, options: StartWaypointOptions = {}): Promise<MeshProcess> {
  const token = waypointTokenPath(mesh, spec);
  const waitMs = options.waitMs;
  await until(
    () => stat(token).then(() => true, () => false),
    () => `the control plane to write the token of waypoint ${spec.namespace}/${spec.gateway} (${token})`,
    { dead: () => !mesh.controlPlane.running, ...(waitMs === undefined ? {} : { waitMs }) },
  );
  return await mesh.startProcess(spec.pod, waypointProcessName(spec), process.execPath, [...(options.nodeArgs ?? []), WAYPOINT_MAIN], {
    env: waypointEnv(mesh, spec, options.env ?? {}),
    ready: async () => (await waypointReadiness(mesh, spec)).status === 200,
    ...(waitMs === undefined ? {} : { waitMs }),
  });
}

/** An extension that starts a waypoint per waypoint Gateway of the config, in order, each ready before the next. */
export function waypointsExtension(options: StartWaypointOptions = {}): MeshExtension {
  return {
    name: 'waypoints',
    async start(mesh) {
      for (const spec of await findWaypoints(mesh)) await startWaypoint(mesh, spec, options);
    },
  };
}
