/**
 * Which DestinationRule applies to a service, and the settings it gives one (port, subset) of it.
 *
 * A rule's `host` is resolved as Istio resolves it: a name without dots is short for
 * `<name>.<rule namespace>.svc.<domain suffix>`, anything else is a full hostname. For one host, the rules
 * of the service's own namespace win over those of the root namespace, and the oldest (creation time, then
 * input order) over later ones; the others are reported and not applied. Rules in other namespaces apply
 * to their own clients' sidecars in Istio, which a waypoint does not serve: reported.
 *
 * Settings merge by part, as Istio merges them: the rule's traffic policy, then its port-level settings for
 * the port, then the subset's policy and its port-level settings; a part set later (connectionPool,
 * outlierDetection, loadBalancer) replaces the same part set earlier.
 */
import type { DestinationRuleObject, Subset, TrafficPolicy, TrafficPolicySettings } from '../../input/traffic-objects.js';
import type { ModelContext } from '../context.js';

export class DestinationRuleIndex {
  readonly #byHost = new Map<string, DestinationRuleObject>();

  constructor(ctx: ModelContext, hostnames: ReadonlyMap<string, string>) {
    const candidates = new Map<string, DestinationRuleObject[]>();
    for (const rule of ctx.destinationRules) {
      const host = resolveHost(rule.host, rule.metadata.namespace, ctx.options.domainSuffix);
      const serviceNamespace = hostnames.get(host);
      if (serviceNamespace === undefined) {
        ctx.report(rule, ['spec', 'host'], `host ${host} is not a Service of this mesh; the rule applies to nothing`);
        continue;
      }
      const ns = rule.metadata.namespace;
      if (ns !== serviceNamespace && ns !== ctx.options.rootNamespace) {
        ctx.report(
          rule,
          ['metadata', 'namespace'],
          `a waypoint applies DestinationRules from the service's namespace (${serviceNamespace}) or the root namespace (${ctx.options.rootNamespace}); this one is not applied`,
        );
        continue;
      }
      const list = candidates.get(host);
      if (list === undefined) candidates.set(host, [rule]);
      else list.push(rule);
    }
    for (const [host, rules] of candidates) {
      const serviceNamespace = hostnames.get(host)!;
      const ranked = rules
        .map((rule, order) => ({ rule, order }))
        .sort(
          (a, b) =>
            Number(a.rule.metadata.namespace !== serviceNamespace) - Number(b.rule.metadata.namespace !== serviceNamespace) ||
            (a.rule.metadata.creationTimestamp ?? Infinity) - (b.rule.metadata.creationTimestamp ?? Infinity) ||
            a.order - b.order,
        )
        .map((r) => r.rule);
      const winner = ranked[0]!;
      this.#byHost.set(host, winner);
      for (const loser of ranked.slice(1)) {
        ctx.report(
          loser,
          ['spec', 'host'],
          `DestinationRule ${winner.metadata.namespace}/${winner.metadata.name} already configures ${host}; this one is not applied`,
        );
      }
    }
  }

  get(hostname: string): DestinationRuleObject | undefined {
    return this.#byHost.get(hostname);
  }
}

/** Istio's short-name rule: no dot → a Service in `namespace`; otherwise a full hostname. */
export function resolveHost(host: string, namespace: string, domainSuffix: string): string {
  return host.includes('.') ? host : `${host}.${namespace}.svc.${domainSuffix}`;
}

function apply(target: { -readonly [K in keyof TrafficPolicySettings]: TrafficPolicySettings[K] }, settings: TrafficPolicySettings | undefined): void {
  if (settings === undefined) return;
  if (settings.connectionPool !== undefined) target.connectionPool = settings.connectionPool;
  if (settings.outlierDetection !== undefined) target.outlierDetection = settings.outlierDetection;
  if (settings.loadBalancer !== undefined) target.loadBalancer = settings.loadBalancer;
}

function applyPolicy(target: { -readonly [K in keyof TrafficPolicySettings]: TrafficPolicySettings[K] }, policy: TrafficPolicy | undefined, port: number): void {
  apply(target, policy);
  apply(target, policy?.portLevelSettings.find((p) => p.port === port)?.settings);
}

/** The settings of `rule` (if any) for `port` and `subset` (if any), merged by part. */
export function effectiveSettings(rule: DestinationRuleObject | undefined, port: number, subset: Subset | undefined): TrafficPolicySettings {
  const out: { -readonly [K in keyof TrafficPolicySettings]: TrafficPolicySettings[K] } = {};
  applyPolicy(out, rule?.trafficPolicy, port);
  applyPolicy(out, subset?.trafficPolicy, port);
  return out;
}
