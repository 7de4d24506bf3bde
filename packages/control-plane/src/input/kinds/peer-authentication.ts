/**
 * security.istio.io PeerAuthentication: mesh-wide (root namespace, no selector), namespace-wide (no
 * selector) or per workload (selector, optionally with `portLevelMtls`). Unknown keys are errors, as for
 * AuthorizationPolicy, since a misspelt `mtls` would silently turn STRICT into the inherited mode.
 */
import { checkDns1123Subdomain } from '../names.js';
import type { MtlsMode, PeerAuthenticationObject } from '../objects.js';
import type { KindDecoder } from '../registry.js';
import { decodeWorkloadSelector } from './policy-binding.js';

const MODES: readonly MtlsMode[] = ['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'];

export const peerAuthenticationDecoder: KindDecoder<PeerAuthenticationObject> = {
  kind: 'PeerAuthentication',
  apiVersions: ['security.istio.io/v1', 'security.istio.io/v1beta1'],
  namespaced: true,
  checkName: checkDns1123Subdomain,
  decode(doc, { apiVersion, metadata, source }) {
    const spec = doc.child('spec');
    spec.object();
    spec.onlyKeys(['selector', 'mtls', 'portLevelMtls']);
    const { field: selectorField, labels } = decodeWorkloadSelector(spec);
    let selector = labels;
    if (selector !== undefined && Object.keys(selector).length === 0) {
      // istiod treats a selector without labels as no selector at all.
      selectorField.warn('selects no labels, so the policy is namespace-wide (omit the selector to say so)');
      selector = undefined;
    }
    const mtls = spec.child('mtls');
    mtls.object();
    mtls.onlyKeys(['mode']);
    const mode = mtls.child('mode').oneOf(MODES) ?? 'UNSET';

    const portLevelField = spec.child('portLevelMtls');
    const portLevelMtls: Array<[number, MtlsMode]> = [];
    for (const [key, entry] of portLevelField.entries() ?? []) {
      const port = /^\d{1,5}$/.test(key) ? Number(key) : NaN;
      if (!(port >= 1 && port <= 65535)) {
        entry.error(`key ${JSON.stringify(key)} is not a port number between 1 and 65535`);
        continue;
      }
      entry.object(true);
      entry.onlyKeys(['mode']);
      const portMode = entry.child('mode').oneOf(MODES) ?? 'UNSET';
      portLevelMtls.push([port, portMode]);
    }
    if (portLevelField.present && selector === undefined) {
      portLevelField.error('requires a workload selector (spec.selector.matchLabels)');
    }
    portLevelMtls.sort((a, b) => a[0] - b[0]);

    return {
      kind: 'PeerAuthentication',
      apiVersion,
      metadata,
      source,
      ...(selector !== undefined ? { selector } : {}),
      mode,
      portLevelMtls,
    };
  },
};
