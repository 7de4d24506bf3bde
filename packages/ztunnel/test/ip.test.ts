import { randomBytes } from 'node:crypto';
import net from 'node:net';
import test from 'ava';
import { Cidr, canonicalIp, formatIp, ipToBytes, parseIpWords } from '../src/state/ip.js';

/** Node's own canonical text for 16 bytes (libuv inet_ntop), via SocketAddress. */
function nodeForm(bytes: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return new net.SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}

test('formatIp writes IPv4 dotted and refuses other lengths', (t) => {
  t.is(formatIp(Uint8Array.of(10, 244, 1, 10)), '10.244.1.10');
  t.is(formatIp(Uint8Array.of(0, 0, 0, 0)), '0.0.0.0');
  t.is(formatIp(Uint8Array.of(1, 2, 3)), undefined);
  t.is(formatIp(new Uint8Array(0)), undefined);
  t.is(formatIp(new Uint8Array(17)), undefined);
});

test('formatIp writes IPv6 exactly as Node reports socket addresses', (t) => {
  const cases: [string, string][] = [
    ['::1', '::1'],
    ['::', '::'],
    ['fd00:10:244:2::20', 'fd00:10:244:2::20'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['::ffff:10.0.0.1', '::ffff:10.0.0.1'],
    ['::10.0.0.1', '::10.0.0.1'],
    ['1::', '1::'],
  ];
  for (const [input, want] of cases) {
    t.is(new net.SocketAddress({ address: input, family: 'ipv6' }).address, want, `Node's own form of ${input}`);
    t.is(formatIp(v6Bytes(input)), want, input);
  }
  // Random addresses, with zero runs made likely.
  for (let n = 0; n < 2000; n++) {
    const bytes = randomBytes(16);
    for (let i = 0; i < 16; i += 2) if (bytes[i]! & 1) bytes[i] = bytes[i + 1] = 0;
    t.is(formatIp(bytes), nodeForm(bytes), bytes.toString('hex'));
  }
});

/** 16 bytes of an IPv6 text (through Node, independent of the code under test). */
function v6Bytes(text: string): Uint8Array {
  const full = new net.SocketAddress({ address: text, family: 'ipv6' }).address;
  const out = new Uint8Array(16);
  const [head, tail] = full.includes('::') ? full.split('::') : [full, undefined];
  const parse = (part: string | undefined): number[] => {
    if (!part) return [];
    return part.split(':').flatMap((g) => {
      if (g.includes('.')) {
        const [a, b, c, d] = g.split('.').map(Number);
        return [(a! << 8) | b!, (c! << 8) | d!];
      }
      return [Number.parseInt(g, 16)];
    });
  };
  const h = parse(head);
  const tl = parse(tail);
  const groups = [...h, ...new Array<number>(8 - h.length - tl.length).fill(0), ...tl];
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

test('parseIpWords reads IPv4, IPv6, embedded IPv4 and zones; IPv4-mapped comes back as IPv4', (t) => {
  const w = new Uint32Array(4);
  t.is(parseIpWords('10.0.0.1', w), 4);
  t.is(w[0], 0x0a000001);
  t.is(parseIpWords('255.255.255.255', w), 4);
  t.is(w[0], 0xffffffff);
  t.is(parseIpWords('::ffff:10.0.0.1', w), 4);
  t.is(w[0], 0x0a000001);
  t.is(parseIpWords('::FFFF:a00:1', w), 4);
  t.is(w[0], 0x0a000001);
  t.is(parseIpWords('fd00:10:244:2::20', w), 6);
  t.deepEqual([...w], [0xfd000010, 0x02440002, 0, 0x20]);
  t.is(parseIpWords('fe80::1%eth0', w), 6);
  t.deepEqual([...w], [0xfe800000, 0, 0, 1]);
  t.is(parseIpWords('::', w), 6);
  t.deepEqual([...w], [0, 0, 0, 0]);
  t.is(parseIpWords('1:2:3:4:5:6:7:8', w), 6);
  t.deepEqual([...w], [0x00010002, 0x00030004, 0x00050006, 0x00070008]);
  t.is(parseIpWords('1:2:3:4:5:6:1.2.3.4', w), 6);
  t.deepEqual([...w], [0x00010002, 0x00030004, 0x00050006, 0x01020304]);
  t.is(parseIpWords('1::', w), 6);
  t.deepEqual([...w], [0x00010000, 0, 0, 0]);
  t.is(parseIpWords('1:2:3:4:5:6:7::', w), 6);
  t.deepEqual([...w], [0x00010002, 0x00030004, 0x00050006, 0x00070000]);
});

test('parseIpWords refuses what is not an address', (t) => {
  const w = new Uint32Array(4);
  for (const bad of [
    '',
    '10.0.0',
    '10.0.0.1.2',
    '10.0.0.256',
    '10.0.0.01',
    '10..0.1',
    '10.0.0.1 ',
    'a.b.c.d',
    ':',
    ':::',
    '1:2',
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    '12345::',
    ':1::',
    '1:',
    '1:2:3:4:5:6:7:8::',
    '::g',
    '1:2:3:4:5:6:7:1.2.3.4',
    '::1.2.3',
    '1.2.3.4::',
  ]) {
    t.is(parseIpWords(bad, w), 0, JSON.stringify(bad));
  }
});

test('canonicalIp and ipToBytes normalise any valid spelling', (t) => {
  t.is(canonicalIp('0:0:0:0:0:0:0:1'), '::1');
  t.is(canonicalIp('FD00:0010::0020'), 'fd00:10::20');
  t.is(canonicalIp('::ffff:10.1.2.3'), '10.1.2.3');
  t.is(canonicalIp('10.1.2.3'), '10.1.2.3');
  t.is(canonicalIp('nope'), undefined);
  t.deepEqual([...ipToBytes('10.1.2.3')!], [10, 1, 2, 3]);
  t.is(ipToBytes('fd00::1')!.length, 16);
  t.is(ipToBytes('x'), undefined);
});

test('Cidr: construction, host bits cleared, containment by family, mapped IPv6 blocks', (t) => {
  const w = new Uint32Array(4);
  const v4 = Cidr.fromBytes(Uint8Array.of(10, 244, 3, 7), 16) as Cidr;
  t.is(v4.text, '10.244.0.0/16');
  t.is(JSON.stringify({ c: v4 }), '{"c":"10.244.0.0/16"}');
  t.true(v4.contains(parseIpWords('10.244.200.1', w), w));
  t.false(v4.contains(parseIpWords('10.245.0.1', w), w));
  t.false(v4.contains(parseIpWords('fd00::1', w), w), 'another family never matches');
  t.true(v4.contains(parseIpWords('::ffff:10.244.0.9', w), w), 'a mapped request address is IPv4');

  const all4 = Cidr.fromBytes(Uint8Array.of(0, 0, 0, 0), 0) as Cidr;
  t.true(all4.contains(parseIpWords('203.0.113.9', w), w));
  const host = Cidr.fromBytes(Uint8Array.of(203, 0, 113, 9), 32) as Cidr;
  t.true(host.contains(parseIpWords('203.0.113.9', w), w));
  t.false(host.contains(parseIpWords('203.0.113.8', w), w));

  const v6 = Cidr.fromBytes(ipToBytes('fd00:10:244:2::')!, 64) as Cidr;
  t.is(v6.text, 'fd00:10:244:2::/64');
  t.true(v6.contains(parseIpWords('fd00:10:244:2::20', w), w));
  t.false(v6.contains(parseIpWords('fd00:10:244:3::20', w), w));
  t.false(v6.contains(parseIpWords('10.0.0.1', w), w));
  const v6odd = Cidr.fromBytes(ipToBytes('2001:db8:ffff::')!, 37) as Cidr;
  t.is(v6odd.text, '2001:db8:f800::/37');
  t.true(v6odd.contains(parseIpWords('2001:db8:ffff:1::', w), w));
  t.false(v6odd.contains(parseIpWords('2001:db8:7fff::', w), w));
  const v6host = Cidr.fromBytes(ipToBytes('fd00::5')!, 128) as Cidr;
  t.true(v6host.contains(parseIpWords('fd00::5', w), w));
  t.false(v6host.contains(parseIpWords('fd00::6', w), w));

  const mapped = Cidr.fromBytes(Buffer.from('00000000000000000000ffff0af40000', 'hex'), 112) as Cidr;
  t.is(mapped.family, 4);
  t.is(mapped.text, '10.244.0.0/16');

  t.is(Cidr.fromBytes(Uint8Array.of(1, 2, 3), 8), 'address has 3 bytes (want 4 or 16)');
  t.is(Cidr.fromBytes(Uint8Array.of(1, 2, 3, 4), 33), 'prefix length 33 is out of range 0-32');
  t.is(Cidr.fromBytes(new Uint8Array(16), 129), 'prefix length 129 is out of range 0-128');
});
