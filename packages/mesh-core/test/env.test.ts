/**
 * The environment readers the proxies' startup configurations share: DNS names, server addresses (with
 * what an empty one means left to the caller), and the error that lists every problem.
 */
import test from 'ava';
import { EnvConfigError, EnvReader } from '../src/config/index.js';
import { MeshError } from '../src/errors.js';

test('dnsName: unset and empty are none; a bad name is named with its variable', (t) => {
  const env = new EnvReader({ A: 'istiod.istio-system.svc', B: '', C: 'istiod_1', D: '-bad-' });
  t.is(env.dnsName('A'), 'istiod.istio-system.svc');
  t.is(env.dnsName('B'), undefined);
  t.is(env.dnsName('UNSET'), undefined);
  t.is(env.dnsName('C'), 'istiod_1', 'the value is still returned; the problem is what stops the start');
  t.is(env.dnsName('D'), '-bad-');
  t.deepEqual(env.problems, ['C=istiod_1: not a DNS name', 'D=-bad-: not a DNS name']);
});

test('serverAddress: unset gives the fallback, empty gives "", a bad address the fallback and a problem', (t) => {
  const env = new EnvReader({ OK: 'https://istiod:15012/', V6: '[fd00::1]:15012', EMPTY: '', BLANK: '  ', PLAIN: 'http://istiod:15012' });
  t.is(env.serverAddress('OK', 'fallback:1'), 'istiod:15012');
  t.is(env.serverAddress('V6', 'fallback:1'), '[fd00::1]:15012');
  t.is(env.serverAddress('UNSET', 'fallback:1'), 'fallback:1');
  t.is(env.serverAddress('EMPTY', 'fallback:1'), '');
  t.is(env.serverAddress('BLANK', 'fallback:1'), 'fallback:1', 'white space is not empty: it is not an address');
  t.is(env.serverAddress('PLAIN', 'fallback:1'), 'fallback:1');
  t.deepEqual(env.problems, [
    'BLANK=  : not host:port (an IPv6 address as [addr]:port)',
    'PLAIN=http://istiod:15012: plaintext http:// is not allowed; the control plane is reached over TLS (https://)',
  ]);
});

test('EnvConfigError: one problem reads as a sentence, several as a list; the code is the subclass’s', (t) => {
  class ProbeError extends EnvConfigError {
    constructor(problems: readonly string[]) {
      super('PROBE_ERR_CONFIG', problems);
    }
  }
  const input = ['A=x: bad'];
  const one = new ProbeError(input);
  t.true(one instanceof MeshError);
  t.is(one.code, 'PROBE_ERR_CONFIG');
  t.is(one.name, 'ProbeError');
  t.is(one.message, 'invalid configuration: A=x: bad');
  input.push('changed later');
  t.deepEqual(one.problems, ['A=x: bad'], 'a copy, not the caller’s array');
  t.true(Object.isFrozen(one.problems));
  const two = new ProbeError(['A=x: bad', 'B (unset): required']);
  t.is(two.message, '2 configuration problems:\n  A=x: bad\n  B (unset): required');
  t.is(two.reason, two.message);
});
