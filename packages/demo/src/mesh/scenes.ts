/**
 * What the local mesh demo shows, in order. To add scenes (the waypoint's L7 split and L7 denial, say): write
 * a `Scene`, list it here, name the workloads it uses in CAST, and, if it needs processes of its own (a
 * waypoint per waypoint Gateway), add a `MeshExtension` of `@ambit/local-mesh` to EXTENSIONS: it runs once
 * the ztunnels are ready, before the first scene.
 */
import type { MeshExtension } from '@ambit/local-mesh';
import { denialScene } from './denial-scene.js';
import { metricsScene } from './metrics-scene.js';
import { requestScene } from './request-scene.js';
import type { Scene } from './scene.js';

export const SCENES: readonly Scene[] = [requestScene, denialScene, metricsScene];

export const EXTENSIONS: readonly MeshExtension[] = [];

/** The workloads the scenes use: Kubernetes namespace and `app` label (the Ready pod is taken). */
export const CAST: readonly { readonly namespace: string; readonly app: string }[] = [
  { namespace: 'demo', app: 'sleep' },
  { namespace: 'demo', app: 'notsleep' },
  { namespace: 'demo', app: 'httpbin' },
];

/** Servers the scenes talk to, started in their pods before the first scene: the testbed's HTTP echo app. */
export const SERVERS: readonly { readonly namespace: string; readonly app: string; readonly port: number }[] = [{ namespace: 'demo', app: 'httpbin', port: 8080 }];
