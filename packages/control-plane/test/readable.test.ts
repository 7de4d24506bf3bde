import test from 'ava';
import { readableAddress, readableAuthorization } from '../src/admin/readable.js';

test('workloads: addresses as text, identity spelled out (ztunnel defaults for an empty trust domain and service account)', (t) => {
  const out = readableAddress({
    workload: {
      uid: 'u',
      namespace: 'ns1',
      addresses: [Buffer.from([10, 1, 2, 3]), Buffer.from('fd000000000000000000000000000001', 'hex')],
      waypoint: { address: { network: 'n', address: Buffer.from([10, 9, 9, 9]) }, hbone_mtls_port: 15008 },
    },
  });
  t.deepEqual(out, {
    workload: {
      uid: 'u',
      namespace: 'ns1',
      addresses: ['10.1.2.3', 'fd00::1'],
      waypoint: { address: { network: 'n', address: '10.9.9.9' }, hbone_mtls_port: 15008 },
      identity: 'spiffe://cluster.local/ns/ns1/sa/default',
    },
  });
});

test('services: VIPs with their network; malformed address bytes are shown, not hidden', (t) => {
  const out = readableAddress({ service: { hostname: 'h', addresses: [{ network: '', address: Buffer.from([10, 96, 0, 1]) }, { address: Buffer.from([1, 2]) }] } });
  t.deepEqual(out, { service: { hostname: 'h', addresses: [{ network: '', address: '10.96.0.1' }, { address: 'invalid(0102)' }] } });
});

test('authorizations: CIDRs as ip/len, other bytes as base64', (t) => {
  const out = readableAuthorization({
    name: 'p',
    rules: [{ clauses: [{ matches: [{ source_ips: [{ address: Buffer.from([192, 0, 2, 0]), length: 24 }], not_destination_ips: [{ address: Buffer.from('20010db8000000000000000000000000', 'hex'), length: 32 }] }] }] }],
    extensions: [{ name: 'x', config: { type_url: 't', value: Buffer.from('hi') } }],
  });
  t.deepEqual(out, {
    name: 'p',
    rules: [{ clauses: [{ matches: [{ source_ips: ['192.0.2.0/24'], not_destination_ips: ['2001:db8::/32'] }] }] }],
    extensions: [{ name: 'x', config: { type_url: 't', value: 'aGk=' } }],
  });
});
