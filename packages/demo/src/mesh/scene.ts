/**
 * A scene of the local mesh demo: one thing the mesh does, shown and checked. Scenes run in order on one
 * mesh; each prints what it shows through `out` and throws DemoError when the mesh did something else, so
 * the demo never prints a story the mesh did not tell.
 */
import type { LocalMesh } from '@ambit/local-mesh';
import type { Workload } from './cast.js';

export interface SceneContext {
  readonly mesh: LocalMesh;
  /** The demo's workloads by app name (`sleep`, `notsleep`, `httpbin`). */
  readonly cast: ReadonlyMap<string, Workload>;
  /** One line of the demo's output (indented by the caller's convention: scenes use three spaces). */
  readonly out: (line?: string) => void;
}

export interface Scene {
  /** One line, printed as the scene's heading. */
  readonly title: string;
  run(ctx: SceneContext): Promise<void>;
}

/** The workload `app` of the cast; every scene names the ones it uses in the cast list (scenes.ts). */
export function castMember(ctx: SceneContext, app: string): Workload {
  const w = ctx.cast.get(app);
  if (w === undefined) throw new Error(`the scene uses ${app}, which is not in the cast: add it to CAST in scenes.ts`);
  return w;
}
