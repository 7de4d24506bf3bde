/**
 * The cluster the mesh suites (`ztunnel`, `waypoint`) run on: two nodes, namespace `bench` for their pods,
 * out of the mesh at first and enrolled at run time, and an idle enrolled pod per node. Each suite adds its
 * own pods and services.
 */
import type { LocalMesh } from '@ambit/local-mesh';
import { changeAndWait } from './mesh.js';

const NOT_ENROLLED = 'metadata: { name: bench }';
const ENROLLED = 'metadata: { name: bench, labels: { istio.io/dataplane-mode: ambient } }';

/** A running, ready pod of namespace `bench`, its service account named after it; `container` is one YAML flow map. */
export function benchPod(name: string, node: string, ip: string, labels: string, container: string): string {
  return `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: bench, labels: { ${labels} } }
spec: { nodeName: ${node}, serviceAccountName: ${name}, containers: [${container}] }
status: { phase: Running, podIP: ${ip}, conditions: [{ type: Ready, status: "True" }] }
`;
}

/** The whole YAML: nodes, namespaces, the suite's `documents` (pods, services…), the anchor pods. */
export function benchClusterYaml(suite: string, documents: readonly string[]): string {
  return `# pnpm bench ${suite}: generated for the run.
apiVersion: v1
kind: Namespace
metadata: { name: istio-system }
---
apiVersion: v1
kind: Namespace
${NOT_ENROLLED}
---
apiVersion: v1
kind: Namespace
metadata: { name: anchor, labels: { istio.io/dataplane-mode: ambient } }
---
apiVersion: v1
kind: Node
metadata: { name: node-a }
---
apiVersion: v1
kind: Node
metadata: { name: node-b }
---
${documents.join('---\n')}---
# An enrolled pod on each node, idle: the control plane gives a node its token (and so its ztunnel a
# connection) once the node has a pod in the mesh, and bench is not enrolled at first.
apiVersion: v1
kind: Pod
metadata: { name: anchor-a, namespace: anchor }
spec: { nodeName: node-a, serviceAccountName: anchor, containers: [{ name: idle, image: pause }] }
status: { phase: Running, podIP: 10.244.0.99, conditions: [{ type: Ready, status: "True" }] }
---
apiVersion: v1
kind: Pod
metadata: { name: anchor-b, namespace: anchor }
spec: { nodeName: node-b, serviceAccountName: anchor, containers: [{ name: idle, image: pause }] }
status: { phase: Running, podIP: 10.244.1.99, conditions: [{ type: Ready, status: "True" }] }
`;
}

/**
 * Enrols namespace `bench` (its YAML edited) and waits until `probe`, which sends traffic and looks where it
 * went, says both ztunnels capture its pods.
 */
export async function enrolBench(mesh: LocalMesh, probe: () => Promise<boolean>): Promise<void> {
  await changeAndWait(mesh, NOT_ENROLLED, ENROLLED, probe, 'namespace bench to be captured by both ztunnels');
}
