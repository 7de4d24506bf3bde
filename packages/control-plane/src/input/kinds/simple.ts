/**
 * Kinds whose metadata is all the model needs: Namespace (labels enrol it in ambient and bind waypoints),
 * Node (labels give locality) and ServiceAccount (names an identity).
 */
import { checkDns1123Label, checkDns1123Subdomain } from '../names.js';
import type { NamespaceObject, NodeObject, ServiceAccountObject } from '../objects.js';
import type { KindDecoder } from '../registry.js';

export const namespaceDecoder: KindDecoder<NamespaceObject> = {
  kind: 'Namespace',
  apiVersions: ['v1'],
  namespaced: false,
  checkName: checkDns1123Label,
  decode: (_doc, { apiVersion, metadata, source }) => ({ kind: 'Namespace', apiVersion, metadata, source }),
};

export const nodeDecoder: KindDecoder<NodeObject> = {
  kind: 'Node',
  apiVersions: ['v1'],
  namespaced: false,
  checkName: checkDns1123Subdomain,
  decode: (_doc, { apiVersion, metadata, source }) => ({ kind: 'Node', apiVersion, metadata, source }),
};

export const serviceAccountDecoder: KindDecoder<ServiceAccountObject> = {
  kind: 'ServiceAccount',
  apiVersions: ['v1'],
  namespaced: true,
  checkName: checkDns1123Subdomain,
  decode: (_doc, { apiVersion, metadata, source }) => ({ kind: 'ServiceAccount', apiVersion, metadata, source }),
};
