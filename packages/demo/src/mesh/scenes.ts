/**
 * What the local mesh demo shows, in order. To add a scene: write a `Scene`, list it here, name the workloads
 * it uses in CAST, and, if it needs processes of its own, add a `MeshExtension` of `@ambit/local-mesh` to
 * EXTENSIONS: it runs once the ztunnels are ready, before the first scene (the waypoints come in this way).
 */
import { waypointsExtension, type MeshExtension } from '@ambit/local-mesh';
import { denialScene } from './denial-scene.js';
import { l7DenialScene } from './l7-denial-scene.js';
import { metricsScene } from './metrics-scene.js';
import { requestScene } from './request-scene.js';
import type { Scene } from './scene.js';
import { splitScene } from './split-scene.js';

export const SCENES: readonly Scene[] = [requestScene, denialScene, metricsScene, splitScene, l7DenialScene];

/** A real ambit-waypoint per waypoint Gateway of the config (demo/waypoint, and shop/waypoint of waypoint.yaml). */
export const EXTENSIONS: readonly MeshExtension[] = [waypointsExtension()];

/** The workloads the scenes use: Kubernetes namespace and `app` label (the Ready pod is taken). */
export const CAST: readonly { readonly namespace: string; readonly app: string }[] = [
  { namespace: 'demo', app: 'sleep' },
  { namespace: 'demo', app: 'notsleep' },
  { namespace: 'demo', app: 'httpbin' },
];

/**
 * Servers the scenes talk to, started before the first scene in every Ready pod of the app (each version of
 * a service): the testbed's HTTP echo app, which reports the address it was reached at.
 */
export const SERVERS: readonly { readonly namespace: string; readonly app: string; readonly port: number }[] = [
  { namespace: 'demo', app: 'httpbin', port: 8080 },
  { namespace: 'demo', app: 'hello', port: 8080 },
];
