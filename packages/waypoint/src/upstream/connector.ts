/**
 * Opens the byte streams that upstream HTTP connections run over: an HBONE tunnel for an endpoint in the
 * mesh (`CONNECT ip:port` to its ztunnel at `ip:hbonePort`, presenting the waypoint's own identity and
 * expecting the endpoint's), or a plain TCP connection for one outside it. Both are bounded by the
 * cluster's connect timeout.
 */
import { connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { HboneClient } from '@ambit/mesh-core/hbone';
import { Identity } from '@ambit/mesh-core/identity';
import type { Clock } from '@ambit/mesh-core/lifecycle';
import { UpstreamError } from './errors.js';
import { hostKey, type Host } from './host.js';

export interface ConnectorOptions {
  readonly hbone: HboneClient;
  readonly clock: Clock;
}

export class Connector {
  readonly #hbone: HboneClient;
  readonly #clock: Clock;
  /** Parsed identities by URI: endpoints and the waypoint repeat the same few. */
  readonly #identities = new Map<string, Identity>();

  constructor(o: ConnectorOptions) {
    this.#hbone = o.hbone;
    this.#clock = o.clock;
  }

  /** Opens a stream to `host` as `self` (the waypoint's SPIFFE URI). Rejects with `WP_ERR_CONNECT`. */
  open(host: Host, self: string, timeoutMs: number): Promise<Duplex> {
    const ep = host.endpoint;
    let opening: Promise<Duplex>;
    if (ep.transport.kind === 'hbone') {
      const t = ep.transport;
      opening = (async () => {
        const source = this.#identity(self);
        const expected = this.#identity(t.identity);
        return this.#hbone.connect({ source, destination: hostKey(ep.ip, t.hbonePort), expectedIdentities: [expected], authority: host.key });
      })();
    } else {
      opening = new Promise<Duplex>((resolve, reject) => {
        const socket = netConnect({ host: ep.ip, port: ep.port, noDelay: true });
        socket.once('connect', () => {
          socket.off('error', reject);
          resolve(socket);
        });
        socket.once('error', reject);
      });
    }
    return withTimeout(opening, timeoutMs, this.#clock, host);
  }

  #identity(uri: string): Identity {
    let id = this.#identities.get(uri);
    if (id === undefined) {
      id = Identity.parse(uri);
      if (this.#identities.size > 10_000) this.#identities.clear();
      this.#identities.set(uri, id);
    }
    return id;
  }
}

function withTimeout(opening: Promise<Duplex>, timeoutMs: number, clock: Clock, host: Host): Promise<Duplex> {
  return new Promise<Duplex>((resolve, reject) => {
    let done = false;
    const timer =
      timeoutMs > 0
        ? clock.setTimeout(() => {
            if (done) return;
            done = true;
            reject(new UpstreamError('WP_ERR_CONNECT', `no connection to ${host.key} within the ${timeoutMs} ms connect timeout`));
          }, timeoutMs)
        : undefined;
    opening.then(
      (stream) => {
        timer?.cancel();
        if (done) {
          stream.destroy();
          return;
        }
        done = true;
        resolve(stream);
      },
      (err: unknown) => {
        timer?.cancel();
        if (done) return;
        done = true;
        reject(new UpstreamError('WP_ERR_CONNECT', `cannot connect to ${host.key}: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
      },
    );
  });
}
