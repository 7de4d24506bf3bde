import test from 'ava';
import { parseTarget } from '../src/route/path.js';
import { selectVirtualHost } from '../src/route/select.js';
import { classify } from '../src/proxy/sniff.js';
import { vhost } from './helpers/fixtures.js';

const N = { normalize: true, mergeSlashes: true };

test('path normalization: unreserved escapes decoded, %2F kept, dot segments removed, slashes merged', (t) => {
  const p = (s: string) => {
    const r = parseTarget(s, N);
    return 'error' in r ? r.error : `${r.path}|${r.query}`;
  };
  t.is(p('/a/%2e%2e/admin'), '/admin|');
  t.is(p('//admin'), '/admin|');
  t.is(p('/a%2fb/%7euser'), '/a%2Fb/~user|');
  t.is(p('/a/./b/../../../c?x=%2e'), '/c|x=%2e');
  t.is(p('/x/..'), '/|');
  t.regex(p('/a%zz'), /malformed percent-escape/);
  t.regex(p('/a b'), /forbidden character/);
  t.regex(p('http://h/x'), /not a path/);
  const raw = parseTarget('/a/../b//c', { normalize: false, mergeSlashes: false });
  t.deepEqual(raw, { path: '/a/../b//c', query: '', hasQuery: false });
});

test('virtual host selection follows Envoy: exact, suffix, prefix, then *; ports', (t) => {
  const table = {
    name: 't',
    virtualHosts: [vhost('exact', ['foo.com:8080'], []), vhost('bare', ['foo.com'], []), vhost('suffix', ['*.foo.com'], []), vhost('prefix', ['foo.*'], []), vhost('any', ['*'], [])],
  };
  const pick = (h: string) => selectVirtualHost(table, h)?.name;
  t.is(pick('foo.com:8080'), 'exact');
  t.is(pick('foo.com:9090'), 'bare');
  t.is(pick('a.foo.com'), 'suffix');
  t.is(pick('foo.org'), 'prefix');
  t.is(pick('bar.net'), 'any');
});

test('sniffing: HTTP/2 preface, HTTP/1 request line, other bytes', (t) => {
  t.is(classify(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')), 'h2');
  t.is(classify(Buffer.from('PRI * HTTP/2')), undefined);
  t.is(classify(Buffer.from('GET /x HTTP/1.1\r\n')), 'http1');
  t.is(classify(Buffer.from('GET /x HT')), undefined);
  t.is(classify(Buffer.from([0x16, 0x03, 0x01, 0x00])), 'other');
  t.is(classify(Buffer.from('SSH-2.0-OpenSSH\r\n')), 'other');
});
