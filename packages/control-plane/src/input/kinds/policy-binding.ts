/**
 * How Istio's security policies (AuthorizationPolicy, RequestAuthentication, PeerAuthentication) say what
 * they apply to: a workload `selector` (`matchLabels` only), or `targetRef`/`targetRefs` naming a waypoint,
 * a Service or a GatewayClass. A policy binds one way or the other, never both; without either it is
 * namespace-wide (mesh-wide in the root namespace).
 */
import type { Field } from '../field.js';
import { decodeMatchLabels } from '../metadata.js';
import { checkDns1123Label, checkDns1123Subdomain } from '../names.js';
import type { PolicyTargetRef } from '../objects.js';

export interface WorkloadSelector {
  /** `spec.selector`, for the caller's own checks and reports. */
  readonly field: Field;
  /** The labels; `{}` for a selector without any, `undefined` when there is no selector. */
  readonly labels: Readonly<Record<string, string>> | undefined;
}

/** `spec.selector` with nothing but `matchLabels`. */
export function decodeWorkloadSelector(spec: Field): WorkloadSelector {
  const field = spec.child('selector');
  field.object();
  field.onlyKeys(['matchLabels']);
  return { field, labels: field.present ? (decodeMatchLabels(field.child('matchLabels')) ?? {}) : undefined };
}

/** What a policy that may target a waypoint binds to: a selector, target references, or neither. */
export interface PolicyBinding {
  readonly selector?: Readonly<Record<string, string>>;
  readonly targetRefs: PolicyTargetRef[];
}

/** `spec.selector` and `spec.targetRef(s)`, refusing a policy that sets both. */
export function decodePolicyBinding(spec: Field): PolicyBinding {
  const selector = decodeWorkloadSelector(spec);
  const targetRefs = decodeTargetRefs(spec);
  if (selector.labels !== undefined && targetRefs.length > 0) {
    selector.field.error('cannot be set together with targetRefs: a policy binds either to workloads or to a waypoint target');
  }
  return { ...(selector.labels !== undefined ? { selector: selector.labels } : {}), targetRefs };
}

/** `spec.targetRef` and `spec.targetRefs` (the policy binds to a waypoint, a Service or a GatewayClass). */
function decodeTargetRefs(spec: Field): PolicyTargetRef[] {
  const refs: PolicyTargetRef[] = [];
  const single = spec.child('targetRef');
  if (single.present) {
    const ref = decodeTargetRef(single);
    if (ref) refs.push(ref);
  }
  for (const item of spec.child('targetRefs').list() ?? []) {
    const ref = decodeTargetRef(item);
    if (ref) refs.push(ref);
  }
  if (single.present && spec.child('targetRefs').present) single.error('cannot be set together with targetRefs');
  return refs;
}

function decodeTargetRef(field: Field): PolicyTargetRef | undefined {
  field.object(true);
  field.onlyKeys(['group', 'kind', 'name', 'namespace']);
  const group = field.child('group').string() ?? '';
  const kind = field.child('kind').oneOf(['Gateway', 'GatewayClass', 'Service', 'ServiceEntry'] as const, true);
  const name = field.child('name').string({ required: true, check: checkDns1123Subdomain });
  const namespace = field.child('namespace').string({ check: checkDns1123Label });
  if (kind === undefined || name === undefined) return undefined;
  return { group, kind, name, ...(namespace !== undefined ? { namespace } : {}) };
}
