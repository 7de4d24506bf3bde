import test from 'ava';
import { caServiceDefinition, CA_SERVICE_NAME } from '../src/index.js';

test('the CA service keeps Istio\'s service path and field numbers', (t) => {
  const ctor = caServiceDefinition();
  const method = ctor.service['CreateCertificate'];
  t.truthy(method);
  t.is(method!.path, `/${CA_SERVICE_NAME}/CreateCertificate`);
  // Field numbers are what make us wire-compatible with istiod: csr=1, validity_duration=3, metadata=4.
  const encoded = method!.requestSerialize({ csr: 'x', validity_duration: 5, metadata: { fields: {} } });
  // tag(1, LEN)=0x0a, tag(3, VARINT)=0x18, tag(4, LEN)=0x22
  t.deepEqual([...encoded], [0x0a, 0x01, 0x78, 0x18, 0x05, 0x22, 0x00]);
  const decoded = method!.responseDeserialize(Buffer.from([0x0a, 0x01, 0x41, 0x0a, 0x01, 0x42])) as { cert_chain: string[] };
  t.deepEqual(decoded.cert_chain, ['A', 'B']);
});
