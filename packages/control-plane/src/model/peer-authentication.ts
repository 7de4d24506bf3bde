/**
 * PeerAuthentication → the DENY policies through which ztunnel refuses plaintext, as istiod converts them
 * (istio `architecture/ambient/peer-authentication.md` and its ambient policy conversion):
 *
 * - The effective mode of a workload comes from the oldest selector policy that selects it, else the
 *   oldest policy of its namespace, else the oldest mesh-wide policy (root namespace, no selector); UNSET
 *   inherits the next level, and nothing at all means PERMISSIVE.
 * - As soon as any PeerAuthentication exists, the static policy `<root>/istio_converted_static_strict`
 *   (DENY when there is no peer principal, i.e. plaintext) is sent, and every workload whose effective mode
 *   is STRICT without port exceptions names it in `authorization_policies`.
 * - A selector policy with `portLevelMtls` that changes the mode of some ports becomes its own DENY
 *   policy `<ns>/converted_peer_authentication_<name>` (scope WORKLOAD_SELECTOR), named by the workloads
 *   it selects instead of the static one:
 *   - effective STRICT with PERMISSIVE/DISABLE ports: one rule whose clauses require "no principal" and
 *     "not port P" for each exempted port (plaintext is denied except on those ports);
 *   - effective PERMISSIVE/DISABLE with STRICT ports: one rule per such port, denying plaintext on it.
 *
 * istiod computes the workload's references and the converted policy in two places that disagree in
 * corner cases (e.g. an UNSET namespace policy under a STRICT mesh policy); here both come from the same
 * effective-mode computation, so a workload never names a policy that is not sent.
 */
import type { Authorization, Clause, Rule } from '@ambit/protos';
import type { MtlsMode, PeerAuthenticationObject, PodObject } from '../input/objects.js';
import type { ModelContext } from './context.js';
import { selects } from './labels.js';
import { stringMatch } from './proto-helpers.js';

export const STATIC_STRICT_POLICY_NAME = 'istio_converted_static_strict';
export const CONVERTED_PEER_AUTHENTICATION_PREFIX = 'converted_peer_authentication_';

export class PeerAuthenticationPolicies {
  readonly #ctx: ModelContext;
  readonly #mesh: PeerAuthenticationObject | undefined;
  readonly #byNamespace = new Map<string, PeerAuthenticationObject>();
  readonly #selectorPolicies: PeerAuthenticationObject[];
  /** Converted per-port policies by the PeerAuthentication's `namespace/name`. */
  readonly #converted = new Map<string, Authorization>();
  readonly authorizations: Authorization[] = [];

  constructor(ctx: ModelContext) {
    this.#ctx = ctx;
    const root = ctx.options.rootNamespace;
    // Oldest first; without timestamps, input order decides (stable sort).
    const all = [...ctx.peerAuthentications].sort((a, b) => (a.metadata.creationTimestamp ?? 0) - (b.metadata.creationTimestamp ?? 0));
    const selectorPolicies: PeerAuthenticationObject[] = [];
    let mesh: PeerAuthenticationObject | undefined;
    for (const pa of all) {
      if (pa.selector !== undefined) {
        if (pa.metadata.namespace === root) {
          ctx.report(pa, ['spec', 'selector'], `a PeerAuthentication with a selector in the root namespace (${root}) does not apply to ambient workloads; ignored`);
        } else {
          selectorPolicies.push(pa);
        }
        continue;
      }
      const namespace = pa.metadata.namespace;
      const winner = namespace === root ? mesh : this.#byNamespace.get(namespace);
      if (winner !== undefined) {
        ctx.report(
          pa,
          [],
          `${namespace === root ? 'mesh-wide' : 'namespace-wide'} PeerAuthentication ${winner.metadata.namespace}/${winner.metadata.name} is older and takes precedence; this one is ignored`,
        );
        continue;
      }
      if (namespace === root) mesh = pa;
      else this.#byNamespace.set(namespace, pa);
    }
    this.#mesh = mesh;
    this.#selectorPolicies = selectorPolicies;

    if (all.length > 0) this.authorizations.push(staticStrictPolicy(root));
    for (const pa of selectorPolicies) {
      const converted = this.#convert(pa);
      if (converted !== undefined) {
        this.#converted.set(`${pa.metadata.namespace}/${pa.metadata.name}`, converted);
        this.authorizations.push(converted);
      }
    }
  }

  /** The converted PeerAuthentication policies a pod must name in its `authorization_policies`. */
  policyNamesFor(pod: PodObject): string[] {
    const { namespace, labels } = pod.metadata;
    const [selected, ...shadowed] = this.#selectorPolicies.filter(
      (pa) => pa.metadata.namespace === namespace && selects(pa.selector ?? {}, labels),
    );
    for (const pa of shadowed) {
      this.#ctx.report(
        pa,
        ['spec', 'selector'],
        `also selects pod ${namespace}/${pod.metadata.name}, where the older PeerAuthentication ${namespace}/${selected!.metadata.name} takes precedence`,
      );
    }
    if (selected !== undefined) {
      const converted = this.#converted.get(`${namespace}/${selected.metadata.name}`);
      if (converted !== undefined) return [`${namespace}/${converted.name}`];
      const mode = selected.mode === 'UNSET' ? this.#inherited(namespace) : selected.mode;
      return mode === 'STRICT' ? [this.#staticName()] : [];
    }
    return this.#inherited(namespace) === 'STRICT' ? [this.#staticName()] : [];
  }

  #staticName(): string {
    return `${this.#ctx.options.rootNamespace}/${STATIC_STRICT_POLICY_NAME}`;
  }

  /** The mode a workload of `namespace` gets without a selector policy. */
  #inherited(namespace: string): MtlsMode {
    const ns = this.#byNamespace.get(namespace)?.mode ?? 'UNSET';
    if (ns !== 'UNSET') return ns;
    const mesh = this.#mesh?.mode ?? 'UNSET';
    return mesh === 'UNSET' ? 'PERMISSIVE' : mesh;
  }

  #convert(pa: PeerAuthenticationObject): Authorization | undefined {
    if (pa.portLevelMtls.length === 0) return undefined;
    const base = pa.mode === 'UNSET' ? this.#inherited(pa.metadata.namespace) : pa.mode;
    const rules: Rule[] = [];
    if (base === 'STRICT') {
      const exempt = pa.portLevelMtls.filter(([, mode]) => mode === 'PERMISSIVE' || mode === 'DISABLE').map(([port]) => port);
      if (exempt.length === 0) return undefined;
      const plaintext: Clause = { matches: [{ not_principals: [stringMatch('*')] }] };
      const ports: Clause[] = exempt.map((port) => ({ matches: [{ not_destination_ports: [port] }] }));
      // istiod's order: its own STRICT first, an inherited STRICT merged in last.
      rules.push({ clauses: pa.mode === 'STRICT' ? [plaintext, ...ports] : [...ports, plaintext] });
    } else {
      for (const [port, mode] of pa.portLevelMtls) {
        if (mode !== 'STRICT') continue;
        rules.push({ clauses: [{ matches: [{ not_principals: [stringMatch('*')], destination_ports: [port] }] }] });
      }
      if (rules.length === 0) return undefined;
    }
    return {
      name: `${CONVERTED_PEER_AUTHENTICATION_PREFIX}${pa.metadata.name}`,
      namespace: pa.metadata.namespace,
      scope: 'WORKLOAD_SELECTOR',
      action: 'DENY',
      rules,
    };
  }
}

function staticStrictPolicy(rootNamespace: string): Authorization {
  return {
    name: STATIC_STRICT_POLICY_NAME,
    namespace: rootNamespace,
    scope: 'WORKLOAD_SELECTOR',
    action: 'DENY',
    rules: [{ clauses: [{ matches: [{ not_principals: [stringMatch('*')] }] }] }],
  };
}
