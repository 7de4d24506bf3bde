/**
 * Waypoints and which traffic goes through them, as istiod decides it:
 *
 * - A Gateway of class `istio-waypoint` is a waypoint once it has an address: its `status.addresses`
 *   (a Hostname preferred, as istiod prefers it, else an IP), or else the cluster IP of its own Service
 *   (same namespace and name), which is where istiod's deployment controller would point the status.
 * - A Service or Pod uses the waypoint named by its own `istio.io/use-waypoint` label, else by its
 *   namespace's; `none` on the object opts out of the namespace's. The waypoint must take that kind of
 *   traffic (`istio.io/waypoint-for`: `service` (default) / `workload` / `all`) and allow attachment from
 *   the object's namespace (its HBONE listener's `allowedRoutes`, default the same namespace).
 * - A reference that cannot be honoured is reported and the object is served without a waypoint, as
 *   istiod does (it reports it in the object's status). The one exception is silent: a namespace-wide
 *   label naming a service-only waypoint simply does not apply to the namespace's pods.
 * - The waypoint's own pods and Service never use a waypoint.
 */
import type { GatewayAddress } from '@ambit/protos';
import { ipToBytes } from '../input/ip.js';
import type { GatewayObject, InputObject, PodObject, ServiceObject } from '../input/objects.js';
import { labelPath, type ModelContext } from './context.js';
import {
  GATEWAY_NAME_LABEL,
  MANAGED_GATEWAY_LABEL,
  MANAGED_GATEWAY_MESH_CONTROLLER,
  selects,
  USE_WAYPOINT_LABEL,
  USE_WAYPOINT_NAMESPACE_LABEL,
  WAYPOINT_FOR_LABEL,
  WAYPOINT_GATEWAY_CLASS,
} from './labels.js';
import { networkAddress } from './proto-helpers.js';

export type WaypointTraffic = 'service' | 'workload' | 'all' | 'none';
const TRAFFIC_TYPES: readonly WaypointTraffic[] = ['service', 'workload', 'all', 'none'];
const DEFAULT_HBONE_PORT = 15008;

export interface Waypoint {
  readonly namespace: string;
  readonly name: string;
  readonly gateway: GatewayObject;
  readonly address: GatewayAddress;
  readonly traffic: WaypointTraffic;
  readonly allowedFrom: 'All' | 'Same' | 'Selector';
  readonly allowedSelector?: Readonly<Record<string, string>>;
}

/**
 * Whether `waypoint` takes what namespace `namespace` attaches to it (workloads and Services using it,
 * routes naming it as their parent): its HBONE listener's `allowedRoutes.namespaces`, as Gateway API reads it.
 */
export function waypointAdmits(ctx: ModelContext, waypoint: Waypoint, namespace: string): boolean {
  switch (waypoint.allowedFrom) {
    case 'All':
      return true;
    case 'Same':
      return waypoint.namespace === namespace;
    case 'Selector':
      return selects(waypoint.allowedSelector ?? {}, ctx.namespaceLabels(namespace));
  }
}

export class WaypointIndex {
  readonly #ctx: ModelContext;
  /** Ready waypoints by `namespace/name`. */
  readonly #waypoints = new Map<string, Waypoint>();
  /** Why a waypoint Gateway is not usable, by `namespace/name`. */
  readonly #notReady = new Map<string, string>();

  constructor(ctx: ModelContext) {
    this.#ctx = ctx;
    for (const [key, gateway] of ctx.gateways) {
      if (gateway.gatewayClassName !== WAYPOINT_GATEWAY_CLASS) continue;
      const waypoint = this.#build(gateway);
      if (waypoint) this.#waypoints.set(key, waypoint);
    }
  }

  get(key: string): Waypoint | undefined {
    return this.#waypoints.get(key);
  }

  /** Every ready waypoint, sorted by `namespace/name`. */
  all(): Waypoint[] {
    return [...this.#waypoints.keys()].sort().map((key) => this.#waypoints.get(key)!);
  }

  /** The waypoint a pod is an instance of (its deployment's pods carry the Gateway's name). */
  instanceOf(pod: PodObject): Waypoint | undefined {
    const name = pod.metadata.labels[GATEWAY_NAME_LABEL];
    return name === undefined ? undefined : this.#waypoints.get(`${pod.metadata.namespace}/${name}`);
  }

  /** True for the Service that fronts a waypoint (it must not be sent through a waypoint itself). */
  isWaypointService(service: ServiceObject): boolean {
    if (service.metadata.labels[MANAGED_GATEWAY_LABEL] === MANAGED_GATEWAY_MESH_CONTROLLER) return true;
    const gateway = this.#ctx.gateways.get(`${service.metadata.namespace}/${service.metadata.name}`);
    return gateway?.gatewayClassName === WAYPOINT_GATEWAY_CLASS;
  }

  /** The waypoint for a Service's traffic (`service` or `all` waypoints), reporting what cannot be honoured. */
  forService(service: ServiceObject): Waypoint | undefined {
    if (this.isWaypointService(service)) return undefined;
    return this.#resolve(service, 'service');
  }

  /** The waypoint for traffic addressed to a pod (`workload` or `all` waypoints). */
  forWorkload(pod: PodObject): Waypoint | undefined {
    if (this.instanceOf(pod)) return undefined;
    return this.#resolve(pod, 'workload');
  }

  #resolve(object: ServiceObject | PodObject, traffic: 'service' | 'workload'): Waypoint | undefined {
    const namespace = object.metadata.namespace;
    const own = useWaypoint(object.metadata.labels, namespace);
    if (own === 'none') return undefined;
    if (own !== undefined) return this.#check(object, own, traffic, true);
    const nsObject = this.#ctx.namespaces.get(namespace);
    const fromNamespace = nsObject ? useWaypoint(nsObject.metadata.labels, namespace) : undefined;
    if (fromNamespace === undefined || fromNamespace === 'none' || nsObject === undefined) return undefined;
    return this.#check(nsObject, fromNamespace, traffic, false, namespace);
  }

  /**
   * Looks up the waypoint `key` named on `labelled` (the object itself, or its namespace when
   * `own` is false) and checks that it can take this traffic from `namespace`.
   */
  #check(
    labelled: InputObject,
    key: string,
    traffic: 'service' | 'workload',
    own: boolean,
    namespace = labelled.metadata.namespace,
  ): Waypoint | undefined {
    const waypoint = this.#waypoints.get(key);
    const where = labelPath(USE_WAYPOINT_LABEL);
    if (waypoint === undefined) {
      const reason = this.#notReady.get(key);
      const gateway = this.#ctx.gateways.get(key);
      const message =
        reason !== undefined
          ? `waypoint ${key} is not ready: ${reason}`
          : gateway !== undefined
            ? `Gateway ${key} is not a waypoint (gatewayClassName ${gateway.gatewayClassName}, not ${WAYPOINT_GATEWAY_CLASS})`
            : `waypoint ${key} does not exist`;
      this.#ctx.report(labelled, where, `${message}; traffic is served without a waypoint`);
      return undefined;
    }
    if (!waypointAdmits(this.#ctx, waypoint, namespace)) {
      this.#ctx.report(
        labelled,
        where,
        `waypoint ${key} does not accept namespace ${namespace} (its HBONE listener's allowedRoutes is ${waypoint.allowedFrom}); traffic is served without a waypoint`,
      );
      return undefined;
    }
    if (waypoint.traffic !== traffic && waypoint.traffic !== 'all') {
      if (own) {
        this.#ctx.report(
          labelled,
          where,
          `waypoint ${key} takes ${waypoint.traffic} traffic (${WAYPOINT_FOR_LABEL}), not ${traffic} traffic; this ${labelled.kind} is served without a waypoint`,
        );
      }
      return undefined;
    }
    return waypoint;
  }

  #build(gateway: GatewayObject): Waypoint | undefined {
    const { namespace, name, labels } = gateway.metadata;
    const key = `${namespace}/${name}`;
    const hbone = gateway.listeners.find((l) => l.protocol === 'HBONE');
    const port = hbone?.port ?? DEFAULT_HBONE_PORT;
    let traffic: WaypointTraffic = 'service';
    const declared = labels[WAYPOINT_FOR_LABEL];
    if (declared !== undefined) {
      if ((TRAFFIC_TYPES as readonly string[]).includes(declared)) traffic = declared as WaypointTraffic;
      else this.#ctx.report(gateway, labelPath(WAYPOINT_FOR_LABEL), `must be one of ${TRAFFIC_TYPES.join(', ')}; using service`);
    }
    const address = this.#address(gateway, port);
    if (address === undefined) {
      const reason = `it has no status.addresses and no Service ${key} with a cluster IP`;
      this.#notReady.set(key, reason);
      this.#ctx.report(gateway, [], `waypoint is not ready: ${reason}`);
      return undefined;
    }
    // istiod reads allowedRoutes from the mesh listener (HBONE on 15008); without one, only the same namespace.
    const mesh = gateway.listeners.find((l) => l.protocol === 'HBONE' && l.port === DEFAULT_HBONE_PORT);
    return {
      namespace,
      name,
      gateway,
      address,
      traffic,
      allowedFrom: mesh?.allowedFrom ?? 'Same',
      ...(mesh?.allowedSelector !== undefined ? { allowedSelector: mesh.allowedSelector } : {}),
    };
  }

  #address(gateway: GatewayObject, port: number): GatewayAddress | undefined {
    const hostname = gateway.statusAddresses.find((a) => a.type === 'Hostname');
    if (hostname !== undefined) {
      return {
        hostname: { namespace: gateway.metadata.namespace, hostname: hostname.value },
        destination: 'hostname',
        hbone_mtls_port: port,
      };
    }
    const ip = gateway.statusAddresses.find((a) => a.type === 'IPAddress');
    const service = this.#ctx.services.find(
      (s) => s.metadata.namespace === gateway.metadata.namespace && s.metadata.name === gateway.metadata.name,
    );
    const text = ip?.value ?? service?.clusterIPs[0];
    const bytes = text === undefined ? undefined : ipToBytes(text);
    if (bytes === undefined) return undefined;
    return { address: networkAddress(this.#ctx.options.network, bytes), destination: 'address', hbone_mtls_port: port };
  }
}

/** `namespace/name` named by an object's `use-waypoint` labels, `'none'`, or undefined when unlabelled. */
function useWaypoint(labels: Readonly<Record<string, string>>, defaultNamespace: string): string | undefined {
  const name = labels[USE_WAYPOINT_LABEL];
  if (name === undefined) return undefined;
  // Istio reserves "none": a waypoint of that name cannot be used.
  if (name === 'none') return 'none';
  return `${labels[USE_WAYPOINT_NAMESPACE_LABEL] ?? defaultNamespace}/${name}`;
}
