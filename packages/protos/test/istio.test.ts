import test from 'ava';
import { addressCodec, authorizationCodec, ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL, ProtoDecodeError } from '../src/index.js';
import type { Address, Authorization } from '../src/index.js';

test('Address round-trips a workload with every commonly used field', (t) => {
  const codec = addressCodec();
  t.is(codec.typeUrl, ADDRESS_TYPE_URL);
  const value: Address = {
    workload: {
      uid: 'Kubernetes//Pod/default/sleep-1',
      name: 'sleep-1',
      namespace: 'default',
      addresses: [Buffer.from([10, 0, 1, 2])],
      tunnel_protocol: 'HBONE',
      trust_domain: 'cluster.local',
      service_account: 'sleep',
      node: 'node-1',
      services: { 'default/sleep.default.svc.cluster.local': { ports: [{ service_port: 80, target_port: 8080 }] } },
      waypoint: { address: { network: '', address: Buffer.from([10, 0, 2, 9]) }, hbone_mtls_port: 15008 },
      locality: { region: 'r1', zone: 'z1' },
      capacity: { value: 3 },
      status: 'UNHEALTHY',
    },
  };
  const decoded = codec.decode(codec.encode(value));
  t.is(decoded.type, 'workload');
  t.is(decoded.workload?.tunnel_protocol, 'HBONE');
  t.deepEqual(decoded.workload?.addresses, [Buffer.from([10, 0, 1, 2])]);
  t.is(decoded.workload?.waypoint?.destination, 'address');
  t.is(decoded.workload?.services?.['default/sleep.default.svc.cluster.local']?.ports?.[0]?.target_port, 8080);
  t.is(decoded.workload?.capacity?.value, 3);
  t.is(decoded.workload?.status, 'UNHEALTHY');
});

test('Workload field numbers match Istio\'s wire format', (t) => {
  // uid is field 20 (tag 0xa2 0x01), node is field 9 (tag 0x4a), wrapped in Address.workload (field 1).
  const bytes = addressCodec().encode({ workload: { uid: 'u', node: 'n' } });
  t.deepEqual([...bytes], [0x0a, 0x07, 0x4a, 0x01, 0x6e, 0xa2, 0x01, 0x01, 0x75]);
});

test('Authorization round-trips with its oneof string matches and field numbers', (t) => {
  const codec = authorizationCodec();
  t.is(codec.typeUrl, AUTHORIZATION_TYPE_URL);
  const value: Authorization = {
    name: 'allow-sleep',
    namespace: 'default',
    scope: 'NAMESPACE',
    action: 'DENY',
    rules: [{ clauses: [{ matches: [{ principals: [{ prefix: 'cluster.local/ns/default/' }], not_principals: [{ presence: {} }], destination_ports: [80, 443] }] }] }],
  };
  const bytes = codec.encode(value);
  const decoded = codec.decode(bytes);
  t.is(decoded.action, 'DENY');
  const m = decoded.rules?.[0]?.clauses?.[0]?.matches?.[0];
  t.is(m?.principals?.[0]?.match_type, 'prefix');
  t.is(m?.not_principals?.[0]?.match_type, 'presence');
  t.deepEqual(m?.destination_ports, [80, 443]);
  // Clause.matches is field 2 (tag 0x12), not 1.
  const clause = codec.type.lookupType('istio.security.Clause');
  t.deepEqual([...clause.encode(clause.fromObject({ matches: [{}] })).finish()], [0x12, 0x00]);
});

test('malformed bytes give a ProtoDecodeError naming the type', (t) => {
  const err = t.throws(() => addressCodec().decode(Buffer.from([0x0a, 0x05, 0x01])), { instanceOf: ProtoDecodeError });
  t.regex(err.message, /^cannot decode istio\.workload\.Address: /);
});

test('encoding a value that does not fit the schema names the field', (t) => {
  t.throws(() => authorizationCodec().encode({ rules: 'x' } as unknown as Authorization), { message: /rules/ });
});
