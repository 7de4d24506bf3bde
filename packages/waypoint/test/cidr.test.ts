import test from 'ava';
import { addressKey, canonicalIp, Cidr, formatIp, parseIp } from '../src/policy/cidr.js';

test('addresses parse to one canonical spelling', (t) => {
  t.is(canonicalIp('10.0.0.1'), '10.0.0.1');
  t.is(canonicalIp('::ffff:10.0.0.1'), '10.0.0.1', 'IPv4-mapped IPv6 is the IPv4 address');
  t.is(canonicalIp('::FFFF:a00:1'), '10.0.0.1');
  t.is(canonicalIp('FD00:0000:0000:0000:0000:0000:0000:0001'), 'fd00::1');
  t.is(canonicalIp('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1', 'the first of two equal zero runs is compressed');
  t.is(canonicalIp('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1', 'a single zero group is not compressed');
  t.is(canonicalIp('::'), '::');
  t.is(canonicalIp('::1'), '::1');
  t.is(canonicalIp('1::'), '1::');
  t.is(canonicalIp('64:ff9b::192.0.2.1'), '64:ff9b::c000:201');
  for (const bad of ['', '10.0.0', '10.0.0.256', '010.0.0.1', '1.2.3.4.5', 'fe80::1%eth0', 'web', '1:2:3:4:5:6:7:8:9', '[::1]']) {
    t.is(canonicalIp(bad), undefined, bad);
  }
  t.is(formatIp(parseIp('10.1.2.3')!), '10.1.2.3');
  t.is(addressKey('10.0.0.1', 80), '10.0.0.1:80');
  t.is(addressKey('fd00::1', 80), '[fd00::1]:80');
});

test('CIDR ranges hold what they should, in either family', (t) => {
  const v4 = Cidr.of('10.0.0.0', 8) as Cidr;
  t.is(v4.description, '10.0.0.0/8');
  t.true(v4.contains('10.255.0.1'));
  t.true(v4.contains('::ffff:10.1.1.1'));
  t.false(v4.contains('11.0.0.0'));
  t.false(v4.contains('nonsense'));
  const odd = Cidr.of('192.168.1.7', 29) as Cidr;
  t.true(odd.contains('192.168.1.0'), 'host bits are ignored');
  t.true(odd.contains('192.168.1.7'));
  t.false(odd.contains('192.168.1.8'));
  const all4 = Cidr.of('0.0.0.0', 0) as Cidr;
  t.true(all4.contains('1.2.3.4'));
  t.false(all4.contains('fd00::1'), 'an IPv4 range holds no IPv6 address');
  const v6 = Cidr.of('fd00::', 7) as Cidr;
  t.true(v6.contains('fdff::1'));
  t.true(v6.contains('fc00::1'));
  t.false(v6.contains('fe00::1'));
  const host = Cidr.of('fd00::1', 128) as Cidr;
  t.true(host.contains('fd00:0::1'));
  t.false(host.contains('fd00::2'));
  t.is(Cidr.of('10.0.0.0', 33), 'prefix length 33 is out of range 0-32');
  t.is(Cidr.of('fd00::', -1), 'prefix length -1 is out of range 0-128');
  t.is(Cidr.of('10.0.0.0', 1.5), 'prefix length 1.5 is out of range 0-32');
  t.is(Cidr.of('x', 8), '"x" is not an IP address');
});
