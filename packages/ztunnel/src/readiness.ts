/**
 * `/healthz/ready`: ztunnel is ready only when everything it needs to serve correctly is in hand — the
 * first xDS response of each type applied (before that it would route and authorize against half a mesh),
 * the certificates of its node's workloads (before that their first connections would wait or fail), and
 * the capture rules installed (before that pods' traffic would bypass it). Until then it answers 500 and
 * lists what is pending, as ztunnel's readiness tasks do.
 */

/** One thing readiness waits for. */
export interface ReadinessCheck {
  readonly name: string;
  /** What is still missing, one entry each; empty when this check is satisfied. */
  pending(): readonly string[];
}

export interface ReadinessStatus {
  readonly ready: boolean;
  /** `<check>: <item>` for every missing item, in check order. */
  readonly pending: readonly string[];
}

export class Readiness {
  readonly #checks: ReadinessCheck[] = [];

  constructor(checks: Iterable<ReadinessCheck> = []) {
    for (const c of checks) this.add(c);
  }

  add(check: ReadinessCheck): void {
    if (this.#checks.some((c) => c.name === check.name)) throw new TypeError(`readiness check ${JSON.stringify(check.name)} is already registered`);
    this.#checks.push(check);
  }

  /** Asks every check now. A check that throws counts as pending with its error. */
  status(): ReadinessStatus {
    const pending: string[] = [];
    for (const check of this.#checks) {
      try {
        for (const item of check.pending()) pending.push(`${check.name}: ${item}`);
      } catch (err) {
        pending.push(`${check.name}: check failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return { ready: pending.length === 0, pending };
  }
}
