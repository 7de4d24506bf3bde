import test from 'ava';
import { bytesToIp, checkCidr, checkIp, ipToBytes, parseCidr } from '../src/input/ip.js';

const hex = (b: Buffer | undefined): string | undefined => b?.toString('hex');

test('IPv4 and IPv6 addresses to bytes and back', (t) => {
  t.is(hex(ipToBytes('10.244.1.10')), '0af4010a');
  t.is(hex(ipToBytes('::')), '0'.repeat(32));
  t.is(hex(ipToBytes('::1')), `${'0'.repeat(31)}1`);
  t.is(hex(ipToBytes('fd00:10:244:2::20')), 'fd00001002440002' + '0000000000000020');
  t.is(hex(ipToBytes('2001:db8::')), '20010db8' + '0'.repeat(24));
  t.is(hex(ipToBytes('1:2:3:4:5:6:7:8')), '00010002000300040005000600070008');
  t.is(hex(ipToBytes('::ffff:10.0.0.1')), `${'0'.repeat(20)}ffff0a000001`);
  t.is(hex(ipToBytes('64:ff9b::192.0.2.33')), `0064ff9b${'0'.repeat(16)}c0000221`);
  for (const text of ['10.244.1.10', '::', '::1', 'fd00:10:244:2::20', '2001:db8::', '1:2:3:4:5:6:7:8', '1:0:0:2::3']) {
    t.is(bytesToIp(ipToBytes(text)!), text);
  }
  t.is(bytesToIp(ipToBytes('1:0:0:0:2:0:0:3')!), '1::2:0:0:3');
  t.is(bytesToIp(ipToBytes('1:0:2:3:4:5:6:7')!), '1:0:2:3:4:5:6:7');
});

test('malformed addresses are refused', (t) => {
  for (const text of ['', '10.0.0', '10.0.0.256', '10.0.0.1/8', 'fe80::1%eth0', ':::', '1::2::3', 'example.com', ' 10.0.0.1']) {
    t.is(ipToBytes(text), undefined, text);
    t.is(checkIp(text), `${JSON.stringify(text)} is not a valid IPv4 or IPv6 address`);
  }
  t.is(checkIp('10.0.0.1'), undefined);
});

test('CIDR blocks: a prefix, or a bare address meaning a host', (t) => {
  t.deepEqual(parseCidr('10.0.0.0/8'), { address: ipToBytes('10.0.0.0'), length: 8 });
  t.deepEqual(parseCidr('10.1.2.3'), { address: ipToBytes('10.1.2.3'), length: 32 });
  t.deepEqual(parseCidr('fd00::/64'), { address: ipToBytes('fd00::'), length: 64 });
  t.deepEqual(parseCidr('::1'), { address: ipToBytes('::1'), length: 128 });
  t.deepEqual(parseCidr('0.0.0.0/0'), { address: ipToBytes('0.0.0.0'), length: 0 });
  for (const text of ['10.0.0.0/33', 'fd00::/129', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/8/8', 'x/8', '10.0.0.0/08a']) {
    t.is(parseCidr(text), undefined, text);
    t.truthy(checkCidr(text));
  }
  t.is(checkCidr('10.0.0.0/8'), undefined);
});
