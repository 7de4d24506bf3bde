/**
 * Gateway API Gateway. All Gateways are decoded; the model turns those of class `istio-waypoint` into
 * waypoints. Listeners matter for `allowedRoutes` (which namespaces may bind to the waypoint) and
 * `status.addresses` for where the waypoint is reached.
 */
import type { Field } from '../field.js';
import { checkIp } from '../ip.js';
import { decodeMatchLabels } from '../metadata.js';
import { checkDns1123Subdomain } from '../names.js';
import type { GatewayAddressStatus, GatewayListener, GatewayObject } from '../objects.js';
import type { KindDecoder } from '../registry.js';

export const gatewayDecoder: KindDecoder<GatewayObject> = {
  kind: 'Gateway',
  apiVersions: ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1'],
  namespaced: true,
  checkName: checkDns1123Subdomain,
  decode(doc, { apiVersion, metadata, source }) {
    const spec = doc.child('spec');
    spec.object(true);
    const gatewayClassName = spec.child('gatewayClassName').string({ required: true, check: checkDns1123Subdomain }) ?? '';
    const listeners = (spec.child('listeners').list() ?? [])
      .map(decodeListener)
      .filter((l): l is GatewayListener => l !== undefined);
    const status = doc.child('status');
    status.object();
    const statusAddresses = (status.child('addresses').list() ?? [])
      .map(decodeStatusAddress)
      .filter((a): a is GatewayAddressStatus => a !== undefined);
    return { kind: 'Gateway', apiVersion, metadata, source, gatewayClassName, listeners, statusAddresses };
  },
};

function decodeListener(field: Field): GatewayListener | undefined {
  field.object(true);
  const name = field.child('name').string({ required: true, check: checkDns1123Subdomain });
  const port = field.child('port').integer({ required: true, min: 1, max: 65535 });
  const protocol = field.child('protocol').string({ required: true });
  const namespaces = field.child('allowedRoutes').child('namespaces');
  namespaces.object();
  const allowedFrom = namespaces.child('from').oneOf(['All', 'Same', 'Selector'] as const) ?? 'Same';
  const selectorField = namespaces.child('selector');
  selectorField.object();
  const allowedSelector = selectorField.present ? (decodeMatchLabels(selectorField.child('matchLabels')) ?? {}) : undefined;
  if (allowedFrom === 'Selector' && allowedSelector === undefined) namespaces.child('selector').error('is required when from is Selector');
  if (name === undefined || port === undefined || protocol === undefined) return undefined;
  return { name, port, protocol, allowedFrom, ...(allowedSelector !== undefined ? { allowedSelector } : {}) };
}

function decodeStatusAddress(field: Field): GatewayAddressStatus | undefined {
  field.object(true);
  const type = field.child('type').oneOf(['IPAddress', 'Hostname'] as const) ?? 'IPAddress';
  const check = type === 'IPAddress' ? checkIp : checkDns1123Subdomain;
  const value = field.child('value').string({ required: true, check });
  return value === undefined ? undefined : { type, value };
}
