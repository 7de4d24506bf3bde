/**
 * The waypoint benchmark's cluster: two nodes; the client pod on node-a; on node-b the server pod, the nginx
 * pod (the C baseline proxy) and the waypoint's pod, all in namespace `bench`. The namespace starts out of
 * the mesh (`direct`), is enrolled at run time (`ztunnel`, `nginx`), and then the server's Service is
 * labelled `istio.io/use-waypoint` (`waypoint`): the same pods and processes for every path.
 */
import type { LocalMesh } from '@ambit/local-mesh';
import { benchClusterYaml, benchPod } from '../lib/bench-cluster.js';
import { changeAndWait } from '../lib/mesh.js';

export const CLIENT_POD = 'client';
export const SERVER_POD = 'server';
export const NGINX_POD = 'nginx';
export const WAYPOINT_POD = 'waypoint';
export const WAYPOINT_NAME = 'waypoint';
export const NAMESPACE = 'bench';
export const CLIENT_IP = '10.244.0.10';
export const SERVER_IP = '10.244.1.10';
export const NGINX_IP = '10.244.1.20';
export const WAYPOINT_IP = '10.244.1.30';
/** The server's Service: the address the `waypoint` path dials (a service waypoint serves service traffic). */
export const SERVER_VIP = '10.96.0.10';
export const WAYPOINT_VIP = '10.96.0.2';
/**
 * Ports of the server pod's nginx and of the proxy nginx alike: HTTP/1.1, HTTP/2 with prior knowledge, and
 * stub_status on the pod's loopback. The Service exposes only the HTTP/1.1 port, named `http`: the waypoint
 * takes both protocols there (it sniffs) and, like nginx, speaks HTTP/1.1 to the pod.
 */
export const PORTS = { http1: 8080, http2: 8081, status: 8090 } as const;

const NO_WAYPOINT = 'metadata: { name: server, namespace: bench }';
const USE_WAYPOINT = `metadata: { name: server, namespace: bench, labels: { istio.io/use-waypoint: ${WAYPOINT_NAME} } }`;

export const BENCH_MESH_YAML = benchClusterYaml('waypoint', [
  benchPod(CLIENT_POD, 'node-a', CLIENT_IP, 'app: client', '{ name: load, image: h2load }'),
  benchPod(SERVER_POD, 'node-b', SERVER_IP, 'app: server', `{ name: http, image: nginx, ports: [{ name: http, containerPort: ${PORTS.http1} }] }`),
  `apiVersion: v1
kind: Service
${NO_WAYPOINT}
spec:
  clusterIP: ${SERVER_VIP}
  selector: { app: server }
  ports: [{ name: http, port: ${PORTS.http1}, targetPort: ${PORTS.http1} }]
`,
  // The C baseline: nginx as a reverse proxy, on the waypoint's node, in the mesh like the waypoint's traffic.
  benchPod(NGINX_POD, 'node-b', NGINX_IP, 'app: nginx', '{ name: proxy, image: nginx }'),
  `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: ${WAYPOINT_NAME}, namespace: bench }
spec:
  gatewayClassName: istio-waypoint
  listeners: [{ name: mesh, port: 15008, protocol: HBONE }]
`,
  `apiVersion: v1
kind: Service
metadata: { name: ${WAYPOINT_NAME}, namespace: bench, labels: { gateway.istio.io/managed: istio.io-mesh-controller } }
spec:
  clusterIP: ${WAYPOINT_VIP}
  selector: { gateway.networking.k8s.io/gateway-name: ${WAYPOINT_NAME} }
  ports: [{ name: mesh, port: 15008 }]
`,
  // The waypoint's pod: the Gateway's service account is its name, as for istiod's waypoint Deployments.
  benchPod(WAYPOINT_POD, 'node-b', WAYPOINT_IP, `gateway.networking.k8s.io/gateway-name: ${WAYPOINT_NAME}`, '{ name: waypoint, image: ambit-waypoint }'),
]);

/** Labels the server's Service `istio.io/use-waypoint`; `probe` says whether the waypoint carried traffic. */
export async function useWaypoint(mesh: LocalMesh, probe: () => Promise<boolean>): Promise<void> {
  await changeAndWait(mesh, NO_WAYPOINT, USE_WAYPOINT, probe, 'the service to go through the waypoint');
}
