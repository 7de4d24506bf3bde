/**
 * security.istio.io AuthorizationPolicy. Every field is known, so unknown keys are errors: a misspelt
 * `selectr` must not turn a workload policy into a namespace-wide one. Values are checked as Istio's
 * validating webhook checks them (ports, IP blocks, service accounts, non-empty sources and operations),
 * because istiod silently drops what it cannot parse and a dropped port would widen a rule.
 */
import type { Field } from '../field.js';
import { checkCidr } from '../ip.js';
import { checkDns1123Label, checkDns1123Subdomain } from '../names.js';
import type {
  AuthorizationCondition,
  AuthorizationOperation,
  AuthorizationPolicyAction,
  AuthorizationPolicyObject,
  AuthorizationRule,
  AuthorizationSource,
} from '../objects.js';
import type { KindDecoder } from '../registry.js';
import { decodePolicyBinding } from './policy-binding.js';

const ACTIONS: readonly AuthorizationPolicyAction[] = ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'];
const SOURCE_FIELDS = [
  'principals',
  'notPrincipals',
  'requestPrincipals',
  'notRequestPrincipals',
  'namespaces',
  'notNamespaces',
  'serviceAccounts',
  'notServiceAccounts',
  'ipBlocks',
  'notIpBlocks',
  'remoteIpBlocks',
  'notRemoteIpBlocks',
] as const;
const OPERATION_FIELDS = ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;
export const DRY_RUN_ANNOTATION = 'istio.io/dry-run';

export const authorizationPolicyDecoder: KindDecoder<AuthorizationPolicyObject> = {
  kind: 'AuthorizationPolicy',
  apiVersions: ['security.istio.io/v1', 'security.istio.io/v1beta1'],
  namespaced: true,
  checkName: checkDns1123Subdomain,
  decode(doc, { apiVersion, metadata, source }) {
    const spec = doc.child('spec');
    // An empty spec is legal: an ALLOW policy without rules, which denies everything it applies to.
    spec.object();
    spec.onlyKeys(['selector', 'targetRef', 'targetRefs', 'action', 'provider', 'rules']);
    const binding = decodePolicyBinding(spec);
    const action = spec.child('action').oneOf(ACTIONS) ?? 'ALLOW';
    const providerField = spec.child('provider');
    providerField.object();
    providerField.onlyKeys(['name']);
    const provider = providerField.child('name').string({ required: providerField.present });
    if (action === 'CUSTOM' && !providerField.present) providerField.error('is required for action CUSTOM');
    if (action !== 'CUSTOM' && providerField.present) providerField.error('is only allowed with action CUSTOM');
    const rules = (spec.child('rules').list() ?? []).map(decodeRule);
    const dryRunText = metadata.annotations[DRY_RUN_ANNOTATION];
    if (dryRunText !== undefined && dryRunText !== 'true' && dryRunText !== 'false') {
      doc.child('metadata').child('annotations').child(DRY_RUN_ANNOTATION).error('must be "true" or "false"');
    }

    return {
      kind: 'AuthorizationPolicy',
      apiVersion,
      metadata,
      source,
      ...binding,
      action,
      ...(provider !== undefined ? { provider } : {}),
      rules,
      dryRun: dryRunText === 'true',
    };
  },
};

function decodeRule(field: Field): AuthorizationRule {
  field.object(true);
  field.onlyKeys(['from', 'to', 'when']);
  const from = (field.child('from').list() ?? []).map((item) => {
    item.object(true);
    item.onlyKeys(['source']);
    return decodeSource(item.child('source'));
  });
  const to = (field.child('to').list() ?? []).map((item) => {
    item.object(true);
    item.onlyKeys(['operation']);
    return decodeOperation(item.child('operation'));
  });
  const when = (field.child('when').list() ?? []).map(decodeCondition);
  return { from, to, when };
}

function decodeSource(field: Field): AuthorizationSource {
  field.object(true);
  field.onlyKeys(SOURCE_FIELDS);
  const out: Record<string, string[]> = {};
  for (const name of SOURCE_FIELDS) {
    const check = name.endsWith('pBlocks') ? checkCidr : name.endsWith('erviceAccounts') ? checkServiceAccount : undefined;
    const values = field.child(name).stringList(check ? { check } : {});
    if (values === undefined) continue;
    if (isEmptyList(field.child(name))) field.child(name).error('must not be an empty list (omit the field instead)');
    out[name] = values;
  }
  if (field.present && Object.keys(out).length === 0) field.error('must set at least one field');
  return out;
}

function decodeOperation(field: Field): AuthorizationOperation {
  field.object(true);
  field.onlyKeys(OPERATION_FIELDS);
  const out: Record<string, string[]> = {};
  for (const name of OPERATION_FIELDS) {
    const check = name === 'ports' || name === 'notPorts' ? checkPort : undefined;
    const values = field.child(name).stringList(check ? { check } : {});
    if (values === undefined) continue;
    if (isEmptyList(field.child(name))) field.child(name).error('must not be an empty list (omit the field instead)');
    out[name] = values;
  }
  if (field.present && Object.keys(out).length === 0) field.error('must set at least one field');
  return out;
}

function decodeCondition(field: Field): AuthorizationCondition {
  field.object(true);
  field.onlyKeys(['key', 'values', 'notValues']);
  const key = field.child('key').string({ required: true, check: checkConditionKey }) ?? '';
  const check =
    key === 'destination.port' ? checkPort : key === 'source.ip' || key === 'destination.ip' || key === 'remote.ip' ? checkCidr : undefined;
  const values = field.child('values').stringList(check ? { check } : {});
  const notValues = field.child('notValues').stringList(check ? { check } : {});
  // Counted as written: an invalid value is reported on its own, not as a missing list.
  const written = (f: Field): number => (Array.isArray(f.value) ? f.value.length : 0);
  if (written(field.child('values')) === 0 && written(field.child('notValues')) === 0) field.error('must set values or notValues');
  return { key, ...(values !== undefined ? { values } : {}), ...(notValues !== undefined ? { notValues } : {}) };
}

const PLAIN_CONDITION_KEYS = new Set([
  'source.ip',
  'remote.ip',
  'source.namespace',
  'source.principal',
  'request.auth.principal',
  'request.auth.audiences',
  'request.auth.presenter',
  'destination.ip',
  'destination.port',
  'connection.sni',
]);
/** `request.headers[<name>]`, `request.auth.claims[<claim>]…` (nested claims chain brackets), Envoy metadata. */
const BRACKETED_CONDITION_KEY = /^(request\.headers\[[^\][]+\]|request\.auth\.claims(\[[^\][]+\])+|experimental\.envoy\.filters\.[\w.]+(\[[^\][]+\])+)$/;

/** The `when` keys Istio defines (its webhook refuses others, and an unknown key would never match). */
function checkConditionKey(key: string): string | undefined {
  if (PLAIN_CONDITION_KEYS.has(key) || BRACKETED_CONDITION_KEY.test(key)) return undefined;
  return `${JSON.stringify(key)} is not a condition key (e.g. source.ip, source.namespace, source.principal, request.headers[<name>], request.auth.claims[<claim>], request.auth.principal, destination.port)`;
}

function isEmptyList(field: Field): boolean {
  return Array.isArray(field.value) && field.value.length === 0;
}

/** Ports are strings in the API (`"8080"`), as Istio's schema declares them. */
function checkPort(value: string): string | undefined {
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
    return `${JSON.stringify(value)} is not a port number between 1 and 65535`;
  }
  return undefined;
}

/** `namespace/name`, or a bare name meaning the policy's own namespace. */
function checkServiceAccount(value: string): string | undefined {
  const parts = value.split('/');
  if (parts.length > 2) return `${JSON.stringify(value)} must be "<namespace>/<service account>" or "<service account>"`;
  if (parts.length === 2 && checkDns1123Label(parts[0]!) !== undefined) return `namespace in ${JSON.stringify(value)} is not a valid namespace name`;
  if (checkDns1123Subdomain(parts[parts.length - 1]!) !== undefined) return `service account in ${JSON.stringify(value)} is not a valid name`;
  return undefined;
}
