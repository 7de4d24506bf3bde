/**
 * Everything known about one request by the time it ends, filled in along the way, then turned into one
 * metric observation and one access-log line (`finish`, exactly once, when the response is done or the
 * stream went away).
 */
import type { ProxyContext, TunnelContext } from './context.js';
import type { Endpoint } from '../config/types.js';
import type { Host } from '../upstream/host.js';
import type { ClusterState } from '../upstream/cluster-state.js';
import { namespaceOf, orUnknown, serviceParts, type HttpLabels } from '../telemetry/metrics.js';

export class RequestRecord {
  status = 0;
  /** Envoy response flags, comma-joined ('-' when none). */
  flags = '-';
  details: string | undefined;
  route: string | undefined;
  cluster: ClusterState | undefined;
  upstream: Host | undefined;
  bytesReceived = 0;
  /** The forwarded body, whose count wins over `bytesReceived` once set. */
  body: { readonly bytes: number } | undefined;
  bytesSent = 0;
  traceId: string | undefined;
  requestId: string | undefined;
  grpcStatus: string | undefined;
  path: string;
  /** Run when the client's stream closes, before the record is written (the router's DC handling). */
  onDownstreamClose: (() => void) | undefined;
  readonly method: string;
  readonly authority: string;
  readonly protocol: 'http1' | 'http2';
  readonly started: number;
  readonly destinationService: string;
  #finished = false;

  constructor(method: string, path: string, authority: string, protocol: 'http1' | 'http2', destinationService: string, started: number) {
    this.method = method;
    this.path = path;
    this.authority = authority;
    this.protocol = protocol;
    this.destinationService = destinationService;
    this.started = started;
  }

  addFlag(flag: string): void {
    if (this.flags === '-') this.flags = flag;
    else if (!this.flags.split(',').includes(flag)) this.flags = `${this.flags},${flag}`;
  }

  readonly countSent = (chunk: Buffer): void => {
    this.bytesSent += chunk.length;
  };

  /** Records the request (once). */
  finish(ctx: ProxyContext, tunnel: TunnelContext, now: number): void {
    if (this.#finished) return;
    this.#finished = true;
    const durationMs = now - this.started;
    if (this.body !== undefined) this.bytesReceived = this.body.bytes;
    const ep = this.upstream?.endpoint;
    const cluster = this.cluster?.config;
    // A cluster without a service (ORIGINAL_DST: workload-addressed traffic) reports what the binding does.
    const service = cluster?.serviceHost || this.destinationService;
    const [serviceName, serviceNamespace] = serviceParts(service);
    const dest = destinationLabels(ep);
    const destPrincipal = ep?.transport.kind === 'hbone' ? ep.transport.identity : undefined;
    const isGrpc = this.grpcStatus !== undefined;
    const labels: HttpLabels = {
      reporter: 'waypoint',
      source_workload: tunnel.source.workload,
      source_workload_namespace: tunnel.source.namespace,
      source_principal: orUnknown(tunnel.connection.sourcePrincipal),
      source_app: tunnel.source.app,
      source_version: tunnel.source.version,
      source_cluster: tunnel.source.cluster,
      // In Istio's order (prom-client prints labels in the order of the object's keys).
      destination_workload: dest.destination_workload,
      destination_workload_namespace: dest.destination_workload_namespace,
      destination_principal: dest.destination_principal,
      destination_app: dest.destination_app,
      destination_version: dest.destination_version,
      destination_service: orUnknown(service),
      destination_service_name: serviceName,
      destination_service_namespace: serviceNamespace,
      destination_cluster: dest.destination_cluster,
      request_protocol: isGrpc ? 'grpc' : 'http',
      response_code: String(this.status),
      grpc_response_status: this.grpcStatus ?? '',
      response_flags: this.flags,
      connection_security_policy: 'mutual_tls',
    };
    ctx.metrics.record(labels, durationMs, this.bytesReceived, this.bytesSent);
    if (!ctx.accessLog.enabled(this.status)) return;
    ctx.accessLog.request({
      method: this.method,
      path: this.path,
      authority: this.authority,
      protocol: this.protocol === 'http2' ? 'HTTP/2' : 'HTTP/1.1',
      status: this.status,
      flags: this.flags,
      details: this.details,
      durationMs,
      bytesReceived: this.bytesReceived,
      bytesSent: this.bytesSent,
      route: this.route,
      cluster: cluster?.name,
      upstream: this.upstream?.key,
      sourceAddress: tunnel.sourceAddress,
      sourceIdentity: tunnel.connection.sourcePrincipal,
      destinationAddress: tunnel.bindingKey,
      destinationService: service,
      destinationIdentity: destPrincipal,
      traceId: this.traceId,
      requestId: this.requestId,
    });
  }
}

/** The `destination_*` labels that describe the endpoint that answered (all `unknown` when none did). */
export type DestinationLabels = Pick<
  HttpLabels,
  'destination_workload' | 'destination_workload_namespace' | 'destination_principal' | 'destination_app' | 'destination_version' | 'destination_cluster'
>;

/**
 * From the endpoint as the snapshot has it: the workload and its namespace from `Endpoint.workload` (the
 * namespace from the SPIFFE identity when the workload is not known), the principal from the HBONE
 * identity. `destination_app`, `destination_version` and `destination_cluster` are, as in Istio (and in our
 * ztunnel), the workload's canonical name, canonical revision and cluster id (istio.workload.Workload
 * `canonical_name`, `canonical_revision`, `cluster_id`); `unknown` when unset or the workload is not known.
 */
export function destinationLabels(ep: Endpoint | undefined): DestinationLabels {
  const principal = ep?.transport.kind === 'hbone' ? ep.transport.identity : undefined;
  return {
    destination_workload: orUnknown(ep?.workload?.name),
    destination_workload_namespace: ep?.workload?.namespace ?? namespaceOf(principal),
    destination_principal: orUnknown(principal),
    destination_app: orUnknown(ep?.workload?.canonicalName),
    destination_version: orUnknown(ep?.workload?.canonicalRevision),
    destination_cluster: orUnknown(ep?.workload?.clusterId),
  };
}
