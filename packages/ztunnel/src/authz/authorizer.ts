/**
 * `authorize()` plus the log lines ztunnel writes about its decisions: every decision at debug, and at
 * info whenever dry-run policies apply (that is what dry run is for: seeing what a policy would do before
 * enforcing it). The data path keeps one Authorizer and calls `check` once per inbound connection and
 * again for each live connection when policy changes.
 */
import { silentLogger, type Logger } from '@ambit/mesh-core/telemetry';
import type { ProxySnapshot } from '../state/snapshot.js';
import { authorize, describeDecision, type AuthzDecision } from './evaluate.js';
import type { AuthzRequest } from './match.js';

export interface AuthorizerOptions {
  readonly logger?: Logger;
}

export class Authorizer {
  readonly #logger: Logger;

  constructor(options: AuthorizerOptions = {}) {
    this.#logger = (options.logger ?? silentLogger()).child({ component: 'authz' });
  }

  /** Authorizes `request` against `snapshot` and logs the outcome (see the module comment). */
  check(snapshot: ProxySnapshot, request: AuthzRequest): AuthzDecision {
    const decision = authorize(snapshot, request);
    // Field objects are built only when the line is written: nothing extra on the common path.
    if (decision.dryRun !== undefined) {
      const dry = decision.dryRun;
      this.#logger.info(
        { ...this.#fields(request, decision), 'dry_run.allowed': dry.allowed, 'dry_run.policy': dry.policy?.key },
        `dry-run: ${describeDecision(dry)} (enforced: ${describeDecision(decision)})`,
      );
    } else if (this.#logger.isLevelEnabled('debug')) {
      this.#logger.debug(this.#fields(request, decision), describeDecision(decision));
    }
    return decision;
  }

  #fields(request: AuthzRequest, decision: AuthzDecision): Record<string, unknown> {
    return {
      'src.ip': request.source.ip,
      'src.identity': request.source.identity?.uri,
      'dst.workload': request.destination.workload.uid,
      'dst.addr': `${request.destination.ip}:${request.destination.port}`,
      allowed: decision.allowed,
      policy: decision.policy?.key,
    };
  }
}
