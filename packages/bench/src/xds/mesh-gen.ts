/**
 * A synthetic but realistic mesh for the xDS benchmark, as Kubernetes-style YAML the control plane reads:
 * namespaces enrolled in ambient, several nodes with topology labels, Deployments' pods (owner references,
 * Ready conditions, named container ports) behind ClusterIP Services that select them, one service account
 * per app, a mesh-wide STRICT PeerAuthentication, and a mix of ALLOW and DENY AuthorizationPolicies
 * (workload-selector and namespace-wide).
 *
 * The output is deterministic (same options, same bytes). One pod lives alone in `churn.yaml`, so that a
 * benchmark can change it with a one-file write.
 */

export interface MeshGenOptions {
  readonly pods: number;
  readonly services: number;
  readonly policies: number;
  readonly namespaces: number;
  readonly nodes: number;
}

export const DEFAULT_MESH: MeshGenOptions = Object.freeze({ pods: 10_000, services: 1_000, policies: 200, namespaces: 20, nodes: 4 });

/** The pod of `churn.yaml` in one of its states; `generation` picks its IP and version label. */
export interface ChurnState {
  readonly generation: number;
  readonly ip: string;
  readonly version: string;
}

export interface GeneratedMesh {
  /** Relative path → YAML text. */
  readonly files: ReadonlyMap<string, string>;
  /** The churn pod: its namespace, name, resource name (uid) under cluster id `Kubernetes`, and node. */
  readonly churn: { readonly namespace: string; readonly name: string; readonly uid: string; readonly app: string; readonly node: string };
  /** Totals actually generated (the churn pod counts as one of `pods`). */
  readonly counts: { readonly pods: number; readonly services: number; readonly policies: number };
}

export const CHURN_FILE = 'churn.yaml';

const pad = (n: number, width: number): string => String(n).padStart(width, '0');
const nsName = (i: number): string => `ns-${pad(i, 2)}`;
const appName = (i: number): string => `app-${pad(i, 4)}`;
const nodeName = (i: number): string => `node-${i}`;

/** Pod IPs: a /16 per node (10.64+node.x.y), 250 hosts per third octet so that no address ends in 0 or 255. */
function podIp(node: number, index: number): string {
  return `10.${64 + node}.${Math.floor(index / 250)}.${(index % 250) + 1}`;
}

function serviceIp(i: number): string {
  return `10.96.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

interface PodSpec {
  readonly namespace: string;
  readonly name: string;
  readonly app: string;
  readonly version: string;
  readonly node: string;
  readonly ip: string;
  readonly hash: string;
}

function podYaml(p: PodSpec): string {
  return `---
apiVersion: v1
kind: Pod
metadata:
  name: ${p.name}
  namespace: ${p.namespace}
  labels:
    app: ${p.app}
    version: ${p.version}
    pod-template-hash: ${p.hash}
  ownerReferences:
    - apiVersion: apps/v1
      kind: ReplicaSet
      name: ${p.app}-${p.hash}
      controller: true
spec:
  nodeName: ${p.node}
  serviceAccountName: ${p.app}
  containers:
    - name: ${p.app}
      image: registry.example/${p.app}:1.0
      ports:
        - name: http
          containerPort: 8080
        - name: grpc
          containerPort: 9000
status:
  phase: Running
  podIP: ${p.ip}
  conditions:
    - type: Ready
      status: "True"
`;
}

function serviceYaml(namespace: string, app: string, ip: string): string {
  return `---
apiVersion: v1
kind: Service
metadata:
  name: ${app}
  namespace: ${namespace}
spec:
  clusterIP: ${ip}
  selector:
    app: ${app}
  ports:
    - name: http
      port: 80
      targetPort: http
      appProtocol: http
    - name: grpc
      port: 9000
`;
}

function serviceAccountYaml(namespace: string, app: string): string {
  return `---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: ${app}
  namespace: ${namespace}
`;
}

/**
 * Policy `i` of namespace `ns`: two thirds ALLOW (most select one app and admit two callers' principals on
 * its HTTP port, some are namespace-wide and admit the namespace and the monitoring one), one third DENY
 * (from another namespace, or from a CIDR, or on an admin port).
 */
function policyYaml(i: number, ns: number, namespaces: number, appsInNs: readonly string[]): string {
  const namespace = nsName(ns);
  const app = appsInNs[i % appsInNs.length]!;
  const caller = (k: number): string => `cluster.local/ns/${namespace}/sa/${appsInNs[(i + k) % appsInNs.length]!}`;
  const kind = i % 6;
  const head = (name: string, action: string): string => `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  action: ${action}
`;
  const selector = `  selector:
    matchLabels:
      app: ${app}
`;
  switch (kind) {
    case 0:
    case 1:
    case 2:
      return `${head(`allow-${app}-${i}`, 'ALLOW')}${selector}  rules:
    - from:
        - source:
            principals: [${caller(1)}, ${caller(2)}]
      to:
        - operation:
            ports: ["8080"]
`;
    case 3:
      return `${head(`allow-ns-${i}`, 'ALLOW')}  rules:
    - from:
        - source:
            namespaces: [${namespace}, monitoring]
`;
    case 4:
      return `${head(`deny-from-${nsName((ns + 1) % namespaces)}-${i}`, 'DENY')}${selector}  rules:
    - from:
        - source:
            namespaces: [${nsName((ns + 1) % namespaces)}]
`;
    default:
      return `${head(`deny-admin-${i}`, 'DENY')}${selector}  rules:
    - from:
        - source:
            notIpBlocks: ["10.64.0.0/10"]
      to:
        - operation:
            ports: ["9000"]
`;
  }
}

function clusterYaml(options: MeshGenOptions): string {
  let out = `---
apiVersion: v1
kind: Namespace
metadata:
  name: istio-system
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: istio-system
spec:
  mtls:
    mode: STRICT
`;
  for (let n = 0; n < options.namespaces; n++) {
    out += `---
apiVersion: v1
kind: Namespace
metadata:
  name: ${nsName(n)}
  labels:
    istio.io/dataplane-mode: ambient
`;
  }
  for (let n = 0; n < options.nodes; n++) {
    out += `---
apiVersion: v1
kind: Node
metadata:
  name: ${nodeName(n)}
  labels:
    topology.kubernetes.io/region: region-1
    topology.kubernetes.io/zone: zone-${String.fromCharCode(97 + (n % 3))}
`;
  }
  return out;
}

/** Checks the options make a mesh the control plane accepts (unique IPs, at least one of each). */
function validate(o: MeshGenOptions): void {
  for (const [key, value] of Object.entries(o)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`mesh ${key} must be a positive integer, got ${value}`);
  }
  if (o.services > o.pods) throw new RangeError('a mesh needs at least one pod per service');
  if (o.namespaces > 100) throw new RangeError('at most 100 namespaces');
  if (o.services > 250 * 250) throw new RangeError('at most 62,500 services');
  if (Math.ceil(o.pods / o.nodes) > 250 * 250) throw new RangeError('at most 62,500 pods per node');
}

/** The churn pod with generation `g`: each generation has its own IP (outside the other pods' ranges) and version. */
export function churnState(generation: number): ChurnState {
  return { generation, ip: `10.200.${Math.floor(generation / 250) % 250}.${(generation % 250) + 1}`, version: `v${generation}` };
}

/** The YAML of `churn.yaml` in `state`. */
export function churnYaml(mesh: GeneratedMesh, state: ChurnState): string {
  const { namespace, name, app, node } = mesh.churn;
  return podYaml({ namespace, name, app, version: state.version, node, ip: state.ip, hash: 'churn' });
}

export function generateMesh(options: MeshGenOptions = DEFAULT_MESH): GeneratedMesh {
  validate(options);
  const files = new Map<string, string>();
  files.set('00-cluster.yaml', clusterYaml(options));
  // Service i lives in namespace i % namespaces; pod j belongs to service j % services, on node j % nodes.
  const appsByNs: string[][] = Array.from({ length: options.namespaces }, () => []);
  const services: string[] = Array.from({ length: options.namespaces }, () => '');
  const accounts: string[] = Array.from({ length: options.namespaces }, () => '');
  for (let s = 0; s < options.services; s++) {
    const ns = s % options.namespaces;
    const app = appName(s);
    appsByNs[ns]!.push(app);
    services[ns] += serviceYaml(nsName(ns), app, serviceIp(s));
    accounts[ns] += serviceAccountYaml(nsName(ns), app);
  }
  const pods: string[] = Array.from({ length: options.namespaces }, () => '');
  const perNode = new Array<number>(options.nodes).fill(0);
  const churnIndex = options.pods - 1;
  let churn: GeneratedMesh['churn'] | undefined;
  for (let j = 0; j < options.pods; j++) {
    const s = j % options.services;
    const ns = s % options.namespaces;
    const node = j % options.nodes;
    const app = appName(s);
    const replica = Math.floor(j / options.services);
    const hash = `${pad(s, 4)}f${s % 7}c`;
    const name = `${app}-${hash}-${pad(replica, 3)}`;
    if (j === churnIndex) {
      churn = { namespace: nsName(ns), name, app, uid: `Kubernetes//Pod/${nsName(ns)}/${name}`, node: nodeName(node) };
      continue;
    }
    pods[ns] += podYaml({ namespace: nsName(ns), name, app, version: replica % 2 === 0 ? 'v1' : 'v2', node: nodeName(node), ip: podIp(node, perNode[node]!++), hash });
  }
  const policiesByNs: string[] = Array.from({ length: options.namespaces }, () => '');
  for (let p = 0; p < options.policies; p++) {
    const ns = p % options.namespaces;
    policiesByNs[ns] += policyYaml(Math.floor(p / options.namespaces), ns, options.namespaces, appsByNs[ns]!.length > 0 ? appsByNs[ns]! : [appName(0)]);
  }
  for (let ns = 0; ns < options.namespaces; ns++) {
    const dir = nsName(ns);
    if (accounts[ns]) files.set(`${dir}/service-accounts.yaml`, accounts[ns]!);
    if (pods[ns]) files.set(`${dir}/pods.yaml`, pods[ns]!);
    if (services[ns]) files.set(`${dir}/services.yaml`, services[ns]!);
    if (policiesByNs[ns]) files.set(`${dir}/policies.yaml`, policiesByNs[ns]!);
  }
  const mesh: GeneratedMesh = { files, churn: churn!, counts: { pods: options.pods, services: options.services, policies: options.policies } };
  files.set(CHURN_FILE, churnYaml(mesh, churnState(0)));
  return mesh;
}
