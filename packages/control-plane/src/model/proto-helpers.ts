/**
 * Small builders for the proto-shaped objects the model emits. The shapes follow what the codecs in
 * `@ambit/protos` decode: oneofs carry their discriminator, and empty strings, empty lists and absent
 * messages are left out, so that a snapshot reads like ztunnel's config_dump. Enums that carry meaning
 * (tunnel protocol, status, scope, action) are always written, even at their zero value.
 */
import type { NetworkAddress, StringMatch } from '@ambit/protos';

export function networkAddress(network: string, address: Buffer): NetworkAddress {
  return network.length > 0 ? { network, address } : { address };
}

/**
 * Istio's wildcard rule for principals and namespaces in policies: `*` alone is presence, a leading `*`
 * is a suffix match, a trailing `*` a prefix match, anything else exact.
 */
export function stringMatch(value: string): StringMatch {
  if (value === '*') return { presence: {}, match_type: 'presence' };
  if (value.startsWith('*')) return { suffix: value.slice(1), match_type: 'suffix' };
  if (value.endsWith('*')) return { prefix: value.slice(0, -1), match_type: 'prefix' };
  return { exact: value, match_type: 'exact' };
}
