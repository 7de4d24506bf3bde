/**
 * The hosts of an ORIGINAL_DST cluster (Envoy's `CLUSTER_PROVIDED` balancing): there is no endpoint list,
 * a request goes to the `ip:port` its tunnel was sent to. A host is made the first time a destination is
 * used, if its IP is one of the cluster's targets (the addresses the listener binds on every port; the
 * target says how to reach it), and kept while used: it carries outlier state and pooled connections like
 * any host. A host unused for the cleanup interval (Envoy's `cleanup_interval`) is forgotten and its
 * pool closed, so a client walking through ports cannot make the waypoint keep a host per port for ever;
 * an ejected host is kept until its ejection ends (forgetting it would end the ejection early).
 *
 * The lookup allocates nothing: hosts are found by IP, then by port.
 */
import type { Endpoint, OriginalDestination } from '../config/types.js';
import { Host, hostKey } from './host.js';

/** Where a request's tunnel was sent: the CONNECT `:authority` (canonical IP). */
export interface Destination {
  readonly destinationIp: string;
  readonly destinationPort: number;
}

interface HostState {
  /** The target the host's endpoint was made from. */
  target: Endpoint;
  lastUsed: number;
}

export class OriginalDstHosts {
  /**
   * Every host, in creation order. The same array for the cluster's life (changed in place), so that the
   * cluster can hand it out as its `hosts`.
   */
  readonly hosts: Host[] = [];
  readonly #byIp = new Map<string, Map<number, Host>>();
  readonly #state = new Map<Host, HostState>();
  /** Closes what the cluster keeps for a host it forgets (its connection pool). */
  readonly #forget: (host: Host) => void;
  #config: OriginalDestination;
  /** When the next pick looks for hosts to forget (no timer: an idle cluster has nothing to clean). */
  #nextSweep = 0;

  constructor(config: OriginalDestination, forget: (host: Host) => void) {
    this.#config = config;
    this.#forget = forget;
  }

  /** A new configuration: hosts whose IP is no longer a target go, the others take its new target. */
  update(config: OriginalDestination): void {
    this.#config = config;
    for (const [ip, byPort] of this.#byIp) {
      const target = config.targets.get(ip);
      for (const host of byPort.values()) {
        const state = this.#state.get(host)!;
        if (target === undefined) this.#remove(host);
        else if (state.target !== target) {
          state.target = target;
          host.endpoint = Object.freeze({ ...target, port: host.endpoint.port });
        }
      }
    }
  }

  /** The host for `destination`, made if need be; undefined when it is not a target or is ejected. */
  pick(now: number, destination: Destination): Host | undefined {
    const host = this.#hostFor(now, destination);
    // After the lookup, so that the host just used is not the one forgotten.
    if (now >= this.#nextSweep) this.#sweep(now);
    return host === undefined || host.isEjected(now) ? undefined : host;
  }

  #hostFor(now: number, destination: Destination): Host | undefined {
    const ip = destination.destinationIp;
    const target = this.#config.targets.get(ip);
    if (target === undefined) return undefined;
    let byPort = this.#byIp.get(ip);
    let host = byPort?.get(destination.destinationPort);
    if (host === undefined) {
      if (byPort === undefined) this.#byIp.set(ip, (byPort = new Map<number, Host>()));
      host = new Host(hostKey(ip, destination.destinationPort), Object.freeze({ ...target, port: destination.destinationPort }));
      byPort.set(destination.destinationPort, host);
      this.#state.set(host, { target, lastUsed: now });
      this.hosts.push(host);
    } else {
      this.#state.get(host)!.lastUsed = now;
    }
    return host;
  }

  /** Forgets hosts with nothing in flight, not ejected, unused for the cleanup interval. */
  #sweep(now: number): void {
    const interval = this.#config.cleanupIntervalMs;
    this.#nextSweep = now + interval;
    for (const [host, state] of this.#state) {
      if (host.active === 0 && !host.isEjected(now) && now - state.lastUsed >= interval) this.#remove(host);
    }
  }

  #remove(host: Host): void {
    const ip = host.endpoint.ip;
    const byPort = this.#byIp.get(ip);
    byPort?.delete(host.endpoint.port);
    if (byPort?.size === 0) this.#byIp.delete(ip);
    this.#state.delete(host);
    const i = this.hosts.indexOf(host);
    if (i >= 0) this.hosts.splice(i, 1);
    this.#forget(host);
  }
}
