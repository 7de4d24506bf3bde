/**
 * The mesh-wide settings istiod takes from its environment and MeshConfig, with istiod's defaults.
 */
export interface ModelOptions {
  /** `cluster_id` of every workload and the first segment of its uid (istiod's `CLUSTER_ID`). */
  readonly clusterId: string;
  /** Service hostnames are `<name>.<namespace>.svc.<domainSuffix>`. */
  readonly domainSuffix: string;
  /** Trust domain of workload identities (`spiffe://<trustDomain>/ns/…/sa/…`). */
  readonly trustDomain: string;
  /** Istio's root namespace: its namespace-wide policies apply to the whole mesh. */
  readonly rootNamespace: string;
  /** Network of every workload and service address (`''` is the default network). */
  readonly network: string;
}

export const DEFAULT_MODEL_OPTIONS: ModelOptions = Object.freeze({
  clusterId: 'Kubernetes',
  domainSuffix: 'cluster.local',
  trustDomain: 'cluster.local',
  rootNamespace: 'istio-system',
  network: '',
});
