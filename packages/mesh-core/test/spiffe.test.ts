import test from 'ava';
import { Identity, IdentityError } from '../src/identity/index.js';

test('parses and formats a canonical identity', (t) => {
  const id = Identity.parse('spiffe://cluster.local/ns/default/sa/bookinfo-productpage');
  t.is(id.trustDomain, 'cluster.local');
  t.is(id.namespace, 'default');
  t.is(id.serviceAccount, 'bookinfo-productpage');
  t.is(id.toString(), 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage');
  t.true(id.equals(new Identity('cluster.local', 'default', 'bookinfo-productpage')));
  t.is(JSON.stringify({ id }), '{"id":"spiffe://cluster.local/ns/default/sa/bookinfo-productpage"}');
});

const malformed: Array<[string, RegExp]> = [
  ['', /must start with "spiffe:\/\/"/],
  ['http://cluster.local/ns/a/sa/b', /must start with/],
  ['SPIFFE://cluster.local/ns/a/sa/b', /must start with/],
  ['spiffe://cluster.local', /missing path/],
  ['spiffe:///ns/a/sa/b', /trust domain is empty/],
  ['spiffe://Cluster.Local/ns/a/sa/b', /trust domain "Cluster.Local" may hold only/],
  ['spiffe://cluster.local/ns/a/sa/b/extra', /path must be exactly/],
  ['spiffe://cluster.local/ns/a/sa', /path must be exactly/],
  ['spiffe://cluster.local/sa/b/ns/a', /path must be exactly/],
  ['spiffe://cluster.local/ns//sa/b', /namespace is empty/],
  ['spiffe://cluster.local/ns/a/sa/', /service account is empty/],
  ['spiffe://cluster.local/ns/A/sa/b', /namespace "A" is not a valid Kubernetes name/],
  ['spiffe://cluster.local/ns/a-/sa/b', /namespace "a-" is not a valid/],
  ['spiffe://cluster.local/ns/a/sa/b_c', /service account "b_c" is not a valid/],
  ['spiffe://cluster.local/ns/a/sa/b?x=1', /query, fragment and percent-encoding/],
  ['spiffe://cluster.local/ns/a/sa/b%2fc', /percent-encoding/],
  ['spiffe://cluster.local/ns/a/sa/b#frag', /fragment/],
  [`spiffe://cluster.local/ns/${'a'.repeat(64)}/sa/b`, /namespace is longer than 63/],
  [`spiffe://${'a'.repeat(256)}/ns/a/sa/b`, /trust domain is longer than 255/],
];

for (const [input, reason] of malformed) {
  test(`refuses ${JSON.stringify(input.slice(0, 60))}`, (t) => {
    const err = t.throws(() => Identity.parse(input), { instanceOf: IdentityError });
    t.regex(err.message, reason);
    t.is(err.code, 'IDENTITY_ERR_INVALID');
    t.is(Identity.tryParse(input), undefined);
  });
}

test('service accounts may be dotted subdomains, namespaces may not', (t) => {
  t.is(Identity.parse('spiffe://td/ns/a/sa/b.c').serviceAccount, 'b.c');
  t.throws(() => Identity.parse('spiffe://td/ns/a.b/sa/c'), { message: /namespace "a.b"/ });
});
