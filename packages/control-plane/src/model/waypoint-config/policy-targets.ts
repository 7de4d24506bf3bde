/**
 * Which waypoint policies (AuthorizationPolicy and RequestAuthentication with `targetRefs`) apply to which
 * binding, as Istio attaches them: a `Gateway` target is the whole waypoint (every chain), a `Service`
 * target that Service's chains at its waypoint, and the `istio-waypoint` GatewayClass, from the root
 * namespace, every waypoint. Traffic addressed to a workload (a pod IP) is not a Service's: only the
 * waypoint-wide policies apply to it (no target kind names a pod; istiod builds those chains without a
 * policy service). Targets are in the policy's namespace. A target that does not exist, is not a
 * waypoint, or has no waypoint is reported: the policy is then enforced nowhere, which for an ALLOW policy
 * means it allows nothing it was meant to.
 */
import type { AuthorizationPolicyObject, PolicyTargetRef, RequestAuthenticationObject } from '../../input/objects.js';
import type { ModelContext } from '../context.js';
import { WAYPOINT_GATEWAY_CLASS } from '../labels.js';
import type { ServiceInfo } from '../services.js';
import type { Waypoint } from '../waypoints.js';
import type { Binding } from './bindings.js';

type TargetedPolicy = AuthorizationPolicyObject | RequestAuthenticationObject;

export class PolicyTargets<T extends TargetedPolicy> {
  readonly #byWaypoint = new Map<string, T[]>();
  readonly #byService = new Map<string, T[]>();
  readonly #everywhere: T[] = [];
  readonly #order = new Map<T, number>();

  constructor(ctx: ModelContext, policies: readonly T[], servicesByKey: ReadonlyMap<string, ServiceInfo>, waypoints: ReadonlyMap<string, Waypoint>) {
    policies.forEach((policy, i) => this.#order.set(policy, i));
    for (const policy of policies) {
      policy.targetRefs.forEach((ref, index) => this.#attach(ctx, policy, ref, index, servicesByKey, waypoints));
    }
  }

  #attach(ctx: ModelContext, policy: T, ref: PolicyTargetRef, index: number, servicesByKey: ReadonlyMap<string, ServiceInfo>, waypoints: ReadonlyMap<string, Waypoint>): void {
    const ns = policy.metadata.namespace;
    // (A singular `targetRef` is reported at spec.targetRefs; its line is then that of spec.)
    const where = ['spec', 'targetRefs', index];
    if (ref.namespace !== undefined && ref.namespace !== ns) {
      ctx.report(policy, where, `a target in another namespace (${ref.namespace}) is not allowed; the policy is not applied to it`);
      return;
    }
    const push = (map: Map<string, T[]>, key: string): void => {
      const list = map.get(key) ?? [];
      if (!list.includes(policy)) list.push(policy);
      map.set(key, list);
    };
    switch (ref.kind) {
      case 'Gateway': {
        const key = `${ns}/${ref.name}`;
        if (!waypoints.has(key)) {
          ctx.report(policy, where, `Gateway ${key} is not a ready waypoint; the policy is not enforced there`);
          return;
        }
        push(this.#byWaypoint, key);
        return;
      }
      case 'Service': {
        const service = servicesByKey.get(`${ns}/${ref.name}.${ns}.svc.${ctx.options.domainSuffix}`);
        if (service === undefined) {
          ctx.report(policy, where, `Service ${ns}/${ref.name} does not exist; the policy is not enforced for it`);
          return;
        }
        if (service.waypoint === undefined) {
          ctx.report(policy, where, `Service ${ns}/${ref.name} does not use a waypoint (istio.io/use-waypoint); nothing enforces this policy for it`);
          return;
        }
        push(this.#byService, service.resourceName);
        return;
      }
      case 'GatewayClass':
        if (ref.name !== WAYPOINT_GATEWAY_CLASS || ns !== ctx.options.rootNamespace) {
          ctx.report(policy, where, `only GatewayClass ${WAYPOINT_GATEWAY_CLASS}, from the root namespace ${ctx.options.rootNamespace}, can be targeted; the policy is not applied to it`);
          return;
        }
        if (!this.#everywhere.includes(policy)) this.#everywhere.push(policy);
        return;
      default:
        ctx.report(policy, where, `a ${ref.kind} target is not supported by the waypoint; the policy is not applied to it`);
    }
  }

  /** The policies that apply to `binding`, each once, in input order. */
  forBinding(binding: Binding): T[] {
    return this.#collect(binding.waypoint, this.#byService.get(binding.service.resourceName));
  }

  /** The policies that apply to everything `waypoint` serves: what its workload-addressed chains carry. */
  forWaypoint(waypoint: Waypoint): T[] {
    return this.#collect(waypoint, undefined);
  }

  #collect(waypoint: Waypoint, service: readonly T[] | undefined): T[] {
    const out = new Set<T>(this.#everywhere);
    for (const p of this.#byWaypoint.get(`${waypoint.namespace}/${waypoint.name}`) ?? []) out.add(p);
    for (const p of service ?? []) out.add(p);
    return [...out].sort((a, b) => this.#order.get(a)! - this.#order.get(b)!);
  }
}
