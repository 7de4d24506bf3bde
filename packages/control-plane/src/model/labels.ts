/**
 * The labels and annotations through which Kubernetes objects talk to Istio's ambient mode, and label
 * selection. Names are Istio's (istio/api `label` and `annotation` packages).
 */

/** On a Namespace or Pod: `ambient` enrols, `none` (on a pod) opts out. */
export const DATAPLANE_MODE_LABEL = 'istio.io/dataplane-mode';
/** On a Namespace, Service or Pod: the waypoint (Gateway name) its traffic goes through; `none` opts out. */
export const USE_WAYPOINT_LABEL = 'istio.io/use-waypoint';
/** Next to `use-waypoint`: the namespace of the waypoint when it is not the object's own. */
export const USE_WAYPOINT_NAMESPACE_LABEL = 'istio.io/use-waypoint-namespace';
/** On a waypoint Gateway: which traffic it takes, `service` (default), `workload`, `all` or `none`. */
export const WAYPOINT_FOR_LABEL = 'istio.io/waypoint-for';
/** On the pods of a Gateway's deployment: the Gateway they implement. */
export const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';
/** On a waypoint's own Service and Deployment, set by istiod's gateway controller. */
export const MANAGED_GATEWAY_LABEL = 'gateway.istio.io/managed';
export const MANAGED_GATEWAY_MESH_CONTROLLER = 'istio.io-mesh-controller';
/** On a pod that terminates HBONE itself: `http`. */
export const TUNNEL_LABEL = 'networking.istio.io/tunnel';
/** Set by sidecar injection: such pods are handled by their sidecar, never captured by ztunnel. */
export const SIDECAR_STATUS_ANNOTATION = 'sidecar.istio.io/status';
/** On a Service: the older spelling of `spec.trafficDistribution`. */
export const TRAFFIC_DISTRIBUTION_ANNOTATION = 'networking.istio.io/traffic-distribution';

export const WAYPOINT_GATEWAY_CLASS = 'istio-waypoint';

/** True when every selector label is present on the object with the same value (an empty selector selects all). */
export function selects(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  for (const key in selector) {
    if (labels[key] !== selector[key]) return false;
  }
  return true;
}
