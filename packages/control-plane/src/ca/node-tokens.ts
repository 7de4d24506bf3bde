/**
 * Generated bearer tokens for the nodes of a local mesh, one file per node under the state directory
 * (`<state-dir>/node-tokens/<node>.token`, mode 0600), so that each node's ztunnel can read its own.
 *
 * Tokens persist across restarts (existing files are reused) and are never deleted when a node leaves
 * the snapshot: a ztunnel still holding the token simply may impersonate nobody until its node has pods
 * again. New nodes get a token when the snapshot that introduces them arrives.
 */
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '@ambit/mesh-core/telemetry';
import type { MeshSnapshot, SnapshotSource } from '../model/snapshot.js';
import type { MeshAuthenticator } from './authenticator.js';
import { generateToken, readTokenFile, TOKEN_SUFFIX as SUFFIX, writeTokenFile } from './token-files.js';
import { NODE_NAME_RE } from './tokens.js';

export class NodeTokenStore {
  readonly dir: string;
  readonly #source: SnapshotSource;
  readonly #authenticator: MeshAuthenticator;
  readonly #logger: Logger;
  readonly #tokens = new Map<string, string>();
  /** Syncs run one at a time, in snapshot order. */
  #chain: Promise<void> = Promise.resolve();
  #closed = false;
  readonly #onSnapshot = (snapshot: MeshSnapshot): void => {
    this.#chain = this.#chain.then(async () => {
      if ((await this.#sync(snapshot)) > 0) this.#publish();
    });
  };

  constructor(stateDir: string, source: SnapshotSource, authenticator: MeshAuthenticator, logger: Logger) {
    this.dir = path.join(stateDir, 'node-tokens');
    this.#source = source;
    this.#authenticator = authenticator;
    this.#logger = logger.child({ component: 'node-tokens' });
  }

  /** The token file of `node`. */
  fileOf(node: string): string {
    return path.join(this.dir, `${node}${SUFFIX}`);
  }

  /** Nodes with a token, sorted (tokens themselves are never listed). */
  nodes(): string[] {
    return [...this.#tokens.keys()].sort();
  }

  /** Loads existing tokens, writes tokens for the current snapshot's nodes, then follows the source. */
  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const entry of await readdir(this.dir)) {
      if (!entry.endsWith(SUFFIX)) continue;
      const node = entry.slice(0, -SUFFIX.length);
      const token = await readTokenFile(path.join(this.dir, entry));
      if (!NODE_NAME_RE.test(node) || token === undefined) {
        this.#logger.warn({ file: entry }, 'ignoring a node token file that is not <node>.token holding a generated token');
        continue;
      }
      this.#tokens.set(node, token);
    }
    await this.#sync(this.#source.current);
    this.#publish();
    this.#source.on('snapshot', this.#onSnapshot);
  }

  /** Stops following the source; waits for a sync in progress. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#source.off('snapshot', this.#onSnapshot);
    await this.#chain;
  }

  #publish(): void {
    try {
      this.#authenticator.setNodeTokens(new Map(this.#tokens));
    } catch (err) {
      // Only a token equal to a static one can fail here (2^-256 for generated ones); keep the old set.
      this.#logger.error({ err }, 'node tokens rejected by the authenticator');
    }
  }

  /** Writes tokens for nodes that have none; returns how many were added. */
  async #sync(snapshot: MeshSnapshot): Promise<number> {
    if (this.#closed) return 0;
    let added = 0;
    for (const node of snapshot.identitiesByNode.keys()) {
      if (this.#tokens.has(node)) continue;
      if (!NODE_NAME_RE.test(node)) {
        this.#logger.warn({ node }, 'no token generated: node name is not a DNS-1123 subdomain');
        continue;
      }
      const token = generateToken();
      const file = this.fileOf(node);
      try {
        // Write then rename, so a ztunnel never reads a half-written token.
        await writeTokenFile(file, token);
      } catch (err) {
        this.#logger.error({ err, node }, 'cannot write node token; that node cannot authenticate');
        continue;
      }
      this.#tokens.set(node, token);
      added++;
      this.#logger.info({ node, file }, 'generated node token');
    }
    return added;
  }
}
