/**
 * The messages between the main thread and its data-path worker threads (docs/ztunnel.md, "More cores").
 * Everything here survives the structured clone of `postMessage`: plain objects, strings, numbers, Dates
 * and byte arrays. Identities travel as their URI and are parsed again on the other side.
 *
 * Main → worker: the state in wire form (`state`), certificates (pushed on issue and rotation, or answering
 * a request), identities to forget, and requests (`metrics`, `stats`, `drain`) that the worker answers
 * with a `reply` carrying the same `id`.
 *
 * Worker → main: `listening` once its listeners are up (or `failed`), `certificate-request` for an
 * identity it holds no certificate for, and replies.
 */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import { Identity, type WorkloadCertificate } from '@ambit/mesh-core/identity';
import type { Config } from '../config.js';
import type { DrainOutcome } from '../drain.js';
import type { WireUpdate } from '../state/wire.js';

/** A certificate as it crosses threads: the identity as its URI. */
export type CertificateMessage = Omit<WorkloadCertificate, 'identity'> & { readonly identity: string };

export function toCertificateMessage(certificate: WorkloadCertificate): CertificateMessage {
  return { ...certificate, identity: certificate.identity.uri };
}

export function fromCertificateMessage(message: CertificateMessage): WorkloadCertificate {
  return { ...message, identity: Identity.parse(message.identity) };
}

/** Where a worker's three capture listeners are (the ports the first worker was given when 0 was asked for). */
export interface WorkerListen {
  readonly host?: string;
  readonly ports: { readonly outbound: number; readonly inboundPlain: number; readonly inboundHbone: number };
  readonly mark: number;
  /** Dial upstreams from the source pod's address (`dialTransparent`); false dials plainly (loopback tests). */
  readonly transparentDial: boolean;
}

/** What a worker is started with (`workerData`). */
export interface WorkerInit {
  readonly index: number;
  readonly config: Config;
  readonly listen: WorkerListen;
  /** The whole state when the worker was started; later changes come as `state` messages. */
  readonly state: WireUpdate;
  /** Every certificate the main thread held then. */
  readonly certificates: readonly CertificateMessage[];
}

/** The data path's counters, as `Proxy.stats()` gives them. */
export interface DataPathStats {
  readonly connections: number;
  readonly hboneClient: { readonly connections: number; readonly streams: number };
  readonly hboneServer: { readonly sessions: number; readonly streams: number };
}

export type WorkerRequest =
  | { readonly kind: 'metrics'; readonly id: number }
  | { readonly kind: 'stats'; readonly id: number }
  | { readonly kind: 'drain'; readonly id: number; readonly deadlineMs: number };

export type ToWorker =
  | { readonly kind: 'state'; readonly update: WireUpdate }
  | { readonly kind: 'certificate'; readonly certificate: CertificateMessage }
  | { readonly kind: 'certificate-error'; readonly identity: string; readonly reason: string }
  | { readonly kind: 'forget'; readonly identity: string }
  | WorkerRequest;

/** A metric as `Registry.getMetricsAsJSON()` gives it, which `AggregatorRegistry.aggregate` takes. */
export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

export type WorkerReply =
  | { readonly kind: 'reply'; readonly id: number; readonly request: 'metrics'; readonly metrics: MetricsJson }
  | { readonly kind: 'reply'; readonly id: number; readonly request: 'stats'; readonly stats: DataPathStats }
  | { readonly kind: 'reply'; readonly id: number; readonly request: 'drain'; readonly outcome: DrainOutcome };

export type FromWorker =
  | { readonly kind: 'listening'; readonly ports: WorkerListen['ports'] }
  | { readonly kind: 'failed'; readonly reason: string }
  | { readonly kind: 'certificate-request'; readonly identity: string }
  | WorkerReply;
