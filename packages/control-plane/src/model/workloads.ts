/**
 * Pods → `istio.workload.Workload`, as istiod builds them for ztunnel.
 *
 * Which pods: Running or Pending pods with an IP, except host-network pods (they share the node's IP and
 * are not workloads of their own). Pods that are not in the mesh are still sent, with tunnel protocol
 * NONE, so that ztunnel knows them as plaintext destinations and policy sources.
 *
 * In the mesh ("captured", tunnel HBONE): the pod or its namespace has `istio.io/dataplane-mode=ambient`
 * and the pod does not say `none`; never a pod with a sidecar, nor the pods of a waypoint (they terminate
 * HBONE themselves). A pod labelled `networking.istio.io/tunnel=http` speaks HBONE natively: tunnel HBONE
 * and `native_tunnel`, without being captured.
 */
import type { Address, Locality, Port, PortList, Workload, WorkloadType } from '@ambit/protos';
import { Identity } from '@ambit/mesh-core/identity';
import { ipToBytes } from '../input/ip.js';
import type { InputObject, PodObject } from '../input/objects.js';
import type { ConvertedPolicy } from './authorization.js';
import { labelPath, type ModelContext, type RecordedReport } from './context.js';
import { DATAPLANE_MODE_LABEL, selects, SIDECAR_STATUS_ANNOTATION, TUNNEL_LABEL } from './labels.js';
import type { PeerAuthenticationPolicies } from './peer-authentication.js';
import type { ServiceInfo } from './services.js';
import type { WaypointIndex } from './waypoints.js';

export interface BuiltWorkloads {
  /** Workload Address resources by uid. */
  readonly addresses: Map<string, Address>;
  readonly identitiesByNode: Map<string, Set<string>>;
  /** Per pod of the input (same index): its conversion, or undefined when it is not sent. */
  readonly perPod: readonly (ConvertedPod | undefined)[];
  /** Which pod holds each IP (hex of its bytes). */
  readonly ipOwners: Map<string, PodObject>;
  /** True when no pod was left out for its IP and no pod conversion reported anything. */
  readonly clean: boolean;
}

export interface WorkloadInputs {
  readonly services: readonly ServiceInfo[];
  readonly waypoints: WaypointIndex;
  readonly policies: readonly ConvertedPolicy[];
  readonly peerAuthentications: PeerAuthenticationPolicies;
}

/** What a pod's workload depends on besides the pod: built once per set of non-pod objects. */
export interface WorkloadIndex extends WorkloadInputs {
  /** Selector policies by namespace: a pod only looks at its own namespace's and the root namespace's. */
  readonly policiesByNamespace: ReadonlyMap<string, readonly ConvertedPolicy[]>;
  /** Services with a selector, by namespace. */
  readonly servicesByNamespace: ReadonlyMap<string, readonly ServiceInfo[]>;
}

/** One pod converted: its Address, the identity it gives its node, and what the conversion reported. */
export interface ConvertedPod {
  readonly uid: string;
  readonly address: Address;
  /** The SPIFFE URI its node may obtain (captured pods with a node only). */
  readonly identity: string | undefined;
  readonly reports: readonly RecordedReport[];
  /** Its IPs as bytes in hex: the keys of the one-pod-per-IP check. */
  readonly ipKeys: readonly string[];
}

/**
 * Converted pods by pod object, valid for one WorkloadIndex: an unchanged pod object (the loader hands the
 * same object through while its file is unchanged) against unchanged other objects converts the same.
 */
export type PodMemo = WeakMap<PodObject, ConvertedPod>;

const CRONJOB_JOB_NAME = /^(.+)-\d{8,10}$/;

export function indexWorkloadInputs(inputs: WorkloadInputs): WorkloadIndex {
  return {
    ...inputs,
    policiesByNamespace: groupBy(
      inputs.policies.filter((p) => p.authorization.scope === 'WORKLOAD_SELECTOR'),
      (p) => p.object.metadata.namespace,
    ),
    servicesByNamespace: groupBy(
      inputs.services.filter((s) => s.object.selector !== undefined),
      (s) => s.object.metadata.namespace,
    ),
  };
}

/**
 * Every pod of `ctx` that is sent, in input order. `memo` (optional) holds conversions from earlier calls
 * with the same `index`; what is converted now is added to it. `share` may swap a freshly converted
 * Address for an equal one the caller already holds (so that unchanged content keeps its object).
 */
export function buildWorkloads(
  ctx: ModelContext,
  inputs: WorkloadInputs | WorkloadIndex,
  memo: PodMemo = new WeakMap(),
  share: (uid: string, address: Address) => Address = (_uid, address) => address,
): BuiltWorkloads {
  const index = 'policiesByNamespace' in inputs ? inputs : indexWorkloadInputs(inputs);
  const addresses = new Map<string, Address>();
  const identitiesByNode = new Map<string, Set<string>>();
  const ipOwners = new Map<string, PodObject>();
  const perPod: (ConvertedPod | undefined)[] = new Array<ConvertedPod | undefined>(ctx.pods.length);
  let clean = true;

  for (let i = 0; i < ctx.pods.length; i++) {
    const pod = ctx.pods[i]!;
    if (!isSent(pod)) continue;
    let converted = memo.get(pod);
    // The first pod (in input order) to claim an IP keeps it; this spans pods, so it is checked every time.
    const keys = converted?.ipKeys ?? pod.podIPs.map(ipKey);
    let taken: PodObject | undefined;
    for (const key of keys) if ((taken ??= ipOwners.get(key)) !== undefined) break;
    if (taken !== undefined) {
      ctx.report(
        pod,
        ['status', 'podIP'],
        `pod IP ${pod.podIPs.join(', ')} is already used by pod ${taken.metadata.namespace}/${taken.metadata.name}; this pod is left out`,
        'error',
      );
      clean = false;
      continue;
    }
    for (const key of keys) ipOwners.set(key, pod);

    if (converted === undefined) {
      const { result, reports } = ctx.record(() => convertPod(ctx, pod, index));
      converted = { ...result, address: share(result.uid, result.address), reports, ipKeys: keys };
      memo.set(pod, converted);
    } else if (converted.reports.length > 0) {
      ctx.replay(converted.reports);
    }
    if (converted.reports.length > 0) clean = false;
    perPod[i] = converted;
    addresses.set(converted.uid, converted.address);
    if (converted.identity !== undefined && pod.nodeName !== undefined) {
      let set = identitiesByNode.get(pod.nodeName);
      if (set === undefined) identitiesByNode.set(pod.nodeName, (set = new Set()));
      set.add(converted.identity);
    }
  }
  return { addresses, identitiesByNode, perPod, ipOwners, clean };
}

/** Above this many changed pods, patching is not worth it: `buildWorkloads` runs instead. */
const PATCH_LIMIT = 64;

/**
 * `previous` (a clean round over `previousPods`) brought to `pods` by converting only the pods that are
 * not the same objects as before, or undefined when that cannot give what `buildWorkloads` would: too
 * many changes, a pod count change, or a changed pod that is left out, reports something, or changes
 * its uid, IPs' owner, node or identity (which would move it in the sorted order or the node's identities).
 * The previous round's maps are updated in place and returned in the new round. `candidates` (optional)
 * are the only indices where `pods` may differ from `previousPods`: then the others are not compared.
 */
export function patchWorkloads(
  ctx: ModelContext,
  index: WorkloadIndex,
  memo: PodMemo,
  share: (uid: string, address: Address) => Address,
  previous: BuiltWorkloads,
  previousPods: readonly PodObject[],
  candidates?: readonly number[],
): (BuiltWorkloads & { readonly updated: readonly ConvertedPod[] }) | undefined {
  const pods = ctx.pods;
  if (!previous.clean || pods.length !== previousPods.length) return undefined;
  const changed: number[] = [];
  const count = candidates?.length ?? pods.length;
  for (let k = 0; k < count; k++) {
    const i = candidates !== undefined ? candidates[k]! : k;
    if (pods[i] === previousPods[i]) continue;
    if (changed.push(i) > PATCH_LIMIT) return undefined;
  }
  const updates: { index: number; converted: ConvertedPod; old: ConvertedPod }[] = [];
  for (const i of changed) {
    const pod = pods[i]!;
    const old = previous.perPod[i];
    if (old === undefined || !isSent(pod) || pod.nodeName !== previousPods[i]!.nodeName) return undefined;
    let converted = memo.get(pod);
    if (converted === undefined) {
      const { result, reports } = ctx.record(() => convertPod(ctx, pod, index));
      converted = { ...result, address: share(result.uid, result.address), reports, ipKeys: pod.podIPs.map(ipKey) };
      memo.set(pod, converted);
    }
    if (converted.reports.length > 0 || converted.uid !== old.uid || converted.identity !== old.identity) return undefined;
    updates.push({ index: i, converted, old });
  }
  // IPs: release the old ones, then every new one must be free (else the first-claim rule decides).
  const owners = previous.ipOwners;
  const released = new Set<string>();
  for (const { old } of updates) for (const key of old.ipKeys) released.add(key);
  for (const { converted } of updates) {
    for (const key of converted.ipKeys) if (owners.has(key) && !released.has(key)) return undefined;
  }
  const claimed = new Set<string>();
  for (const { converted } of updates) {
    for (const key of converted.ipKeys) {
      if (claimed.has(key)) return undefined;
      claimed.add(key);
    }
  }
  for (const key of released) owners.delete(key);
  const perPod = previous.perPod.slice();
  for (const { index: i, converted } of updates) {
    for (const key of converted.ipKeys) owners.set(key, pods[i]!);
    perPod[i] = converted;
    previous.addresses.set(converted.uid, converted.address);
  }
  const updated = updates.map((u) => u.converted);
  return { addresses: previous.addresses, identitiesByNode: previous.identitiesByNode, perPod, ipOwners: owners, clean: true, updated };
}

/** Running or Pending with an IP, and not on the host network: the pods that become workloads. */
function isSent(pod: PodObject): boolean {
  return (pod.phase === 'Running' || pod.phase === 'Pending') && !pod.hostNetwork && pod.podIPs.length > 0;
}

/** The same IP written differently (`::1` and `0::1`) is the same key. */
function ipKey(ip: string): string {
  return ipToBytes(ip)!.toString('hex');
}

function convertPod(ctx: ModelContext, pod: PodObject, index: WorkloadIndex): Omit<ConvertedPod, 'reports' | 'ipKeys'> {
  const ips = pod.podIPs.map((ip) => ipToBytes(ip)!);
  const { name, namespace, labels } = pod.metadata;
  const root = ctx.options.rootNamespace;
  const waypointInstance = index.waypoints.instanceOf(pod) !== undefined;
  const nativeTunnel = labels[TUNNEL_LABEL] === 'http';
  const captured = isCaptured(ctx, pod) && !waypointInstance && !nativeTunnel;
  const waypoint = index.waypoints.forWorkload(pod);
  const services = servicesOf(ctx, pod, index.servicesByNamespace.get(namespace) ?? []);
  const candidates = [...(index.policiesByNamespace.get(namespace) ?? []), ...(namespace !== root ? (index.policiesByNamespace.get(root) ?? []) : [])];
  const policies = [
    ...candidates
      .filter((p) => selects(p.object.selector ?? {}, labels))
      .map((p) => p.resourceName)
      .sort(),
    ...index.peerAuthentications.policyNamesFor(pod),
  ];
  const [workloadName, workloadType] = workloadNameAndType(pod);
  const locality = localityOf(ctx, pod);

  const uid = `${ctx.options.clusterId}//Pod/${namespace}/${name}`;
  const workload: Workload = {
    uid,
    name,
    namespace,
    addresses: ips,
    ...(ctx.options.network.length > 0 ? { network: ctx.options.network } : {}),
    tunnel_protocol: captured || nativeTunnel ? 'HBONE' : 'NONE',
    trust_domain: ctx.options.trustDomain,
    service_account: pod.serviceAccountName,
    ...(waypoint !== undefined ? { waypoint: waypoint.address } : {}),
    ...(pod.nodeName !== undefined ? { node: pod.nodeName } : {}),
    canonical_name: firstLabel(labels, ['service.istio.io/canonical-name', 'app.kubernetes.io/name', 'app']) ?? workloadName,
    canonical_revision: firstLabel(labels, ['service.istio.io/canonical-revision', 'app.kubernetes.io/version', 'version']) ?? 'latest',
    workload_type: workloadType,
    workload_name: workloadName,
    ...(nativeTunnel ? { native_tunnel: true } : {}),
    ...(Object.keys(services).length > 0 ? { services } : {}),
    ...(policies.length > 0 ? { authorization_policies: policies } : {}),
    status: pod.ready ? 'HEALTHY' : 'UNHEALTHY',
    cluster_id: ctx.options.clusterId,
    ...(locality !== undefined ? { locality } : {}),
  };
  const identity = captured && pod.nodeName !== undefined ? new Identity(ctx.options.trustDomain, namespace, pod.serviceAccountName).uri : undefined;
  return { uid, address: { workload, type: 'workload' }, identity };
}

/** In the mesh by label: the pod's own `dataplane-mode` wins over its namespace's. */
function isCaptured(ctx: ModelContext, pod: PodObject): boolean {
  if (pod.metadata.annotations[SIDECAR_STATUS_ANNOTATION] !== undefined) return false;
  const own = dataplaneMode(ctx, pod);
  if (own !== undefined) return own === 'ambient';
  const ns = ctx.namespaces.get(pod.metadata.namespace);
  return ns !== undefined && dataplaneMode(ctx, ns) === 'ambient';
}

function dataplaneMode(ctx: ModelContext, object: InputObject): 'ambient' | 'none' | undefined {
  const value = object.metadata.labels[DATAPLANE_MODE_LABEL];
  if (value === undefined || value === 'ambient' || value === 'none') return value;
  ctx.report(object, labelPath(DATAPLANE_MODE_LABEL), `must be "ambient" or "none", got ${JSON.stringify(value)}; treated as unset`);
  return undefined;
}

/** The pod's entry in every selecting Service (of its namespace, with a selector), named target ports resolved. */
function servicesOf(ctx: ModelContext, pod: PodObject, services: readonly ServiceInfo[]): Record<string, PortList> {
  const out: Record<string, PortList> = {};
  for (const info of services) {
    if (!selects(info.object.selector ?? {}, pod.metadata.labels)) continue;
    const ports: Port[] = [];
    info.object.ports.forEach((port, index) => {
      if (typeof port.targetPort === 'number') {
        ports.push({ service_port: port.port, target_port: port.targetPort });
        return;
      }
      const container = pod.containerPorts.find((c) => c.name === port.targetPort);
      if (container === undefined) {
        ctx.report(
          info.object,
          ['spec', 'ports', index, 'targetPort'],
          `pod ${pod.metadata.namespace}/${pod.metadata.name} has no container port named ${JSON.stringify(port.targetPort)}; it does not serve port ${port.port}`,
        );
        return;
      }
      ports.push({ service_port: port.port, target_port: container.containerPort });
    });
    out[info.resourceName] = ports.length > 0 ? { ports } : {};
  }
  return out;
}

/** istiod's heuristics: a ReplicaSet named `<deployment>-<pod-template-hash>` is a Deployment, and so on. */
function workloadNameAndType(pod: PodObject): [string, WorkloadType] {
  const owner = pod.metadata.ownerReferences.find((ref) => ref.controller);
  if (owner !== undefined) {
    const hash = pod.metadata.labels['pod-template-hash'];
    if (owner.kind === 'ReplicaSet' && hash !== undefined && hash.length > 0 && owner.name.endsWith(`-${hash}`)) {
      return [owner.name.slice(0, -(hash.length + 1)), 'DEPLOYMENT'];
    }
    if (owner.kind === 'Job') {
      const cron = CRONJOB_JOB_NAME.exec(owner.name);
      return cron ? [cron[1]!, 'CRONJOB'] : [owner.name, 'JOB'];
    }
  }
  return [pod.metadata.name, 'POD'];
}

function firstLabel(labels: Readonly<Record<string, string>>, keys: readonly string[]): string | undefined {
  for (const key of keys) {
    const value = labels[key];
    if (value !== undefined) return value;
  }
  return undefined;
}

/** From the node's topology labels; a node that is not declared gives no locality. */
function localityOf(ctx: ModelContext, pod: PodObject): Locality | undefined {
  if (pod.nodeName === undefined) return undefined;
  const labels = ctx.nodes.get(pod.nodeName)?.metadata.labels;
  if (labels === undefined) return undefined;
  const region = labels['topology.kubernetes.io/region'] ?? '';
  const zone = labels['topology.kubernetes.io/zone'] ?? '';
  const subzone = labels['topology.istio.io/subzone'] ?? '';
  if (region === '' && zone === '' && subzone === '') return undefined;
  return { ...(region ? { region } : {}), ...(zone ? { zone } : {}), ...(subzone ? { subzone } : {}) };
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list === undefined) out.set(k, [item]);
    else list.push(item);
  }
  return out;
}
