/**
 * Generated bearer tokens for the waypoints of a local mesh, one file per waypoint under the state
 * directory (`<state-dir>/waypoint-tokens/<namespace>/<name>.token`, mode 0600), so that each waypoint's
 * deployment can mount its own, like the projected service-account token istiod's deployment controller
 * gives a waypoint pod.
 *
 * A waypoint token obtains exactly one identity, `spiffe://<td>/ns/<namespace>/sa/<name>` (a waypoint's
 * service account is its Gateway's name), and only while the current snapshot has that waypoint: a token
 * of a deleted Gateway is kept on disk (the Gateway may come back) but not accepted. It impersonates
 * nobody. Tokens persist across restarts.
 */
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { Identity } from '@ambit/mesh-core/identity';
import type { Logger } from '@ambit/mesh-core/telemetry';
import type { MeshSnapshot, SnapshotSource } from '../model/snapshot.js';
import type { MeshAuthenticator } from './authenticator.js';
import { generateToken, readTokenFile, TOKEN_SUFFIX, writeTokenFile } from './token-files.js';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export class WaypointTokenStore {
  readonly dir: string;
  readonly #source: SnapshotSource;
  readonly #authenticator: MeshAuthenticator;
  readonly #logger: Logger;
  /** `namespace/name` → token, for every waypoint that ever had one. */
  readonly #tokens = new Map<string, string>();
  /** The identities of the current snapshot's waypoints, by `namespace/name`. */
  #current: ReadonlyMap<string, string> = new Map();
  #chain: Promise<void> = Promise.resolve();
  #closed = false;
  readonly #onSnapshot = (snapshot: MeshSnapshot): void => {
    this.#chain = this.#chain.then(() => this.#sync(snapshot));
  };

  constructor(stateDir: string, source: SnapshotSource, authenticator: MeshAuthenticator, logger: Logger) {
    this.dir = path.join(stateDir, 'waypoint-tokens');
    this.#source = source;
    this.#authenticator = authenticator;
    this.#logger = logger.child({ component: 'waypoint-tokens' });
  }

  /** The token file of waypoint `namespace/name`. */
  fileOf(namespace: string, name: string): string {
    return path.join(this.dir, namespace, `${name}${TOKEN_SUFFIX}`);
  }

  /** Waypoints whose token is accepted now (`namespace/name`), sorted. */
  waypoints(): string[] {
    return [...this.#current.keys()].filter((key) => this.#tokens.has(key)).sort();
  }

  /** Loads existing tokens, writes tokens for the current snapshot's waypoints, then follows the source. */
  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const dirent of await readdir(this.dir, { withFileTypes: true })) {
      const namespace = dirent.name;
      if (!dirent.isDirectory() || !DNS1123_LABEL.test(namespace)) continue;
      for (const entry of await readdir(path.join(this.dir, namespace))) {
        if (!entry.endsWith(TOKEN_SUFFIX)) continue;
        const name = entry.slice(0, -TOKEN_SUFFIX.length);
        const token = DNS1123_SUBDOMAIN.test(name) ? await readTokenFile(this.fileOf(namespace, name)) : undefined;
        if (token === undefined) {
          this.#logger.warn({ file: path.join(namespace, entry) }, 'ignoring a waypoint token file that is not <namespace>/<name>.token holding a generated token');
          continue;
        }
        this.#tokens.set(`${namespace}/${name}`, token);
      }
    }
    await this.#sync(this.#source.current);
    this.#source.on('snapshot', this.#onSnapshot);
  }

  /** Stops following the source; waits for a sync in progress. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#source.off('snapshot', this.#onSnapshot);
    await this.#chain;
  }

  async #sync(snapshot: MeshSnapshot): Promise<void> {
    if (this.#closed) return;
    const identities = snapshot.waypoints?.identities ?? new Map<string, string>();
    for (const key of identities.keys()) {
      if (this.#tokens.has(key)) continue;
      const [namespace = '', name = ''] = key.split('/');
      const token = generateToken();
      try {
        await mkdir(path.join(this.dir, namespace), { recursive: true, mode: 0o700 });
        await writeTokenFile(this.fileOf(namespace, name), token);
      } catch (err) {
        this.#logger.error({ err, waypoint: key }, 'cannot write waypoint token; that waypoint cannot authenticate');
        continue;
      }
      this.#tokens.set(key, token);
      this.#logger.info({ waypoint: key, file: this.fileOf(namespace, name) }, 'generated waypoint token');
    }
    this.#current = identities;
    this.#publish();
  }

  #publish(): void {
    const accepted = new Map<string, Identity>();
    for (const [key, uri] of this.#current) {
      const token = this.#tokens.get(key);
      if (token !== undefined) accepted.set(token, Identity.parse(uri));
    }
    try {
      this.#authenticator.setWaypointTokens(accepted);
    } catch (err) {
      // Only a token equal to another one can fail here (2^-256 for generated ones); keep the old set.
      this.#logger.error({ err }, 'waypoint tokens rejected by the authenticator');
    }
  }
}
