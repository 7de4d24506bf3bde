import test from 'ava';
import { describeIp, formatIp } from '../src/server/ip-format.js';

function v6(text: string): Buffer {
  // Expand via WHATWG URL parsing is not byte-level; build bytes from the full form instead.
  const [head = '', tail = ''] = text.split('::');
  const h = head ? head.split(':') : [];
  const tl = tail ? tail.split(':') : [];
  const groups = text.includes('::') ? [...h, ...Array<string>(8 - h.length - tl.length).fill('0'), ...tl] : h;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

test('IPv4 is dotted decimal', (t) => {
  t.is(formatIp(Buffer.from([10, 0, 0, 1])), '10.0.0.1');
  t.is(formatIp(Buffer.from([255, 255, 255, 255])), '255.255.255.255');
});

test('IPv6 follows RFC 5952: longest zero run compressed, first on a tie, single zero groups kept, lower case', (t) => {
  t.is(formatIp(v6('2001:db8::1')), '2001:db8::1');
  t.is(formatIp(Buffer.alloc(16)), '::');
  t.is(formatIp(v6('::1')), '::1');
  t.is(formatIp(v6('1::')), '1::');
  t.is(formatIp(v6('2001:db8:0:0:1:0:0:1')), '2001:db8::1:0:0:1');
  t.is(formatIp(v6('2001:0:0:1:0:0:0:1')), '2001:0:0:1::1');
  t.is(formatIp(v6('2001:db8:0:1:1:1:1:1')), '2001:db8:0:1:1:1:1:1');
  t.is(formatIp(v6('FE80::ABCD')), 'fe80::abcd');
});

test('IPv4-mapped IPv6 is written with a dotted tail, as Go and Rust do', (t) => {
  t.is(formatIp(v6('::ffff:0102:0304')), '::ffff:1.2.3.4');
});

test('random IPv6 addresses agree with the WHATWG URL serializer (which is RFC 5952 too)', (t) => {
  let seed = 42;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let i = 0; i < 2000; i++) {
    const bytes = Buffer.alloc(16);
    // Mostly zeros, so that runs of every length occur.
    for (let g = 0; g < 8; g++) if (rnd() % 3 === 0) bytes.writeUInt16BE(rnd() & 0xffff, g * 2);
    const ours = formatIp(bytes)!;
    if (ours.startsWith('::ffff:') && ours.includes('.')) continue;
    t.is(ours, new URL(`http://[${ours}]/`).hostname.slice(1, -1), bytes.toString('hex'));
    t.true(v6(ours).equals(bytes), ours);
  }
});

test('other lengths are not addresses', (t) => {
  t.is(formatIp(Buffer.from([1, 2, 3])), undefined);
  t.is(formatIp(Buffer.alloc(0)), undefined);
  t.is(describeIp(Buffer.from([1, 2, 3])), 'invalid(010203)');
  t.is(describeIp(Buffer.from([1, 2, 3, 4])), '1.2.3.4');
});
