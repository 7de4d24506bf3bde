/**
 * Who may call the control plane, from bearer tokens: static ones from the token file and the generated
 * per-node tokens of a local mesh.
 *
 * Node tokens are bound to the current snapshot, as istiod's node authorizer binds ztunnel's service
 * account to its node (istio: security/pkg/server/ca/node_auth.go): a node's ztunnel may obtain exactly the
 * identities `snapshot.identitiesByNode` lists for that node *now*. A pod that moves to another node moves
 * its identity with it; the old node is refused from the next snapshot on.
 */
import type { Metadata } from '@grpc/grpc-js';
import { StaticTokenAuthenticator, type Authenticator, type Caller, type Identity, type StaticCaller } from '@ambit/mesh-core/identity';
import type { SnapshotSource } from '../model/snapshot.js';
import { isNodeToken, type TokenSpec } from './tokens.js';

/** Whether the current snapshot places a pod with `identity` on `node`. */
export function nodeMayImpersonate(source: SnapshotSource, node: string, identity: Identity): boolean {
  return source.current.identitiesByNode.get(node)?.has(identity.uri) === true;
}

export class MeshAuthenticator implements Authenticator {
  readonly #source: SnapshotSource;
  readonly #static: readonly TokenSpec[];
  #nodeTokens: ReadonlyMap<string, string> = new Map();
  /** token → the one identity a waypoint's token obtains. */
  #waypointTokens: ReadonlyMap<string, Identity> = new Map();
  #delegate: StaticTokenAuthenticator;

  /** Throws RangeError if a token is listed twice or is not an RFC 6750 token. */
  constructor(source: SnapshotSource, specs: readonly TokenSpec[]) {
    this.#source = source;
    this.#static = specs;
    this.#delegate = this.#build();
  }

  /** Number of tokens accepted (static + generated), for config_dump. */
  get size(): number {
    return this.#static.length + this.#nodeTokens.size + this.#waypointTokens.size;
  }

  /** Replaces the generated node tokens (node → token). */
  setNodeTokens(tokens: ReadonlyMap<string, string>): void {
    const previous = this.#nodeTokens;
    this.#nodeTokens = tokens;
    try {
      this.#delegate = this.#build();
    } catch (err) {
      this.#nodeTokens = previous;
      throw err;
    }
  }

  /**
   * Replaces the generated waypoint tokens (token → identity). Each is a workload caller: it obtains its
   * waypoint's identity and impersonates nobody.
   */
  setWaypointTokens(tokens: ReadonlyMap<string, Identity>): void {
    const previous = this.#waypointTokens;
    this.#waypointTokens = tokens;
    try {
      this.#delegate = this.#build();
    } catch (err) {
      this.#waypointTokens = previous;
      throw err;
    }
  }

  authenticate(bearerToken: string, _metadata: Metadata): Promise<Caller> {
    return this.#delegate.authenticate(bearerToken);
  }

  #build(): StaticTokenAuthenticator {
    const entries: [string, StaticCaller][] = [];
    for (const spec of this.#static) {
      if (isNodeToken(spec)) entries.push([spec.token, this.#nodeCaller(spec.node, spec.identity)]);
      else entries.push([spec.token, { identity: spec.identity }]);
    }
    for (const [node, token] of this.#nodeTokens) entries.push([token, this.#nodeCaller(node, undefined)]);
    for (const [token, identity] of this.#waypointTokens) entries.push([token, { identity }]);
    return new StaticTokenAuthenticator(entries);
  }

  #nodeCaller(node: string, identity: Identity | undefined): StaticCaller {
    const source = this.#source;
    return {
      node,
      ...(identity ? { identity } : {}),
      mayImpersonate: (wanted: Identity) => nodeMayImpersonate(source, node, wanted),
    };
  }
}
