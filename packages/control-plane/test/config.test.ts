import test from 'ava';
import { ConfigError, HelpRequested, parseConfig, parseHostPort, usage } from '../src/config.js';

test('defaults: istiod ports on loopback, cluster.local, Kubernetes, info, default serving names', (t) => {
  const c = parseConfig(['--config', 'mesh.yaml', '--state-dir', '/tmp/s']);
  t.deepEqual(c, {
    configPath: 'mesh.yaml',
    listen: { host: '127.0.0.1', port: 15012 },
    admin: { host: '127.0.0.1', port: 15014 },
    trustDomain: 'cluster.local',
    clusterId: 'Kubernetes',
    stateDir: '/tmp/s',
    xdsRequireToken: false,
    serverNames: ['istiod.istio-system.svc', 'localhost'],
    logLevel: 'info',
    drainMs: 5000,
  });
  t.true(Object.isFrozen(c));
  t.true(Object.isFrozen(c.listen));
  t.true(Object.isFrozen(c.serverNames));
});

test('every flag, in both --flag value and --flag=value forms', (t) => {
  const c = parseConfig([
    '--config=dir/',
    '--listen',
    '[::1]:0',
    '--admin=localhost:9000',
    '--trust-domain',
    'example.org',
    '--cluster-id=c1',
    '--ca-cert',
    'ca.pem',
    '--ca-key',
    'key.pem',
    '--ca-chain',
    'chain.pem',
    '--root-cert',
    'root.pem',
    '--tokens',
    'tokens.yaml',
    '--xds-require-token',
    '--server-name',
    'cp.example.org,Localhost',
    '--log-level',
    'debug',
    '--drain-seconds',
    '0.25',
  ]);
  t.deepEqual(c.listen, { host: '::1', port: 0 });
  t.deepEqual(c.admin, { host: 'localhost', port: 9000 });
  t.is(c.trustDomain, 'example.org');
  t.is(c.clusterId, 'c1');
  t.deepEqual(c.ca, { certPath: 'ca.pem', keyPath: 'key.pem', chainPath: 'chain.pem', rootCertPath: 'root.pem' });
  t.is(c.stateDir, undefined);
  t.is(c.tokensPath, 'tokens.yaml');
  t.true(c.xdsRequireToken);
  t.deepEqual(c.serverNames, ['cp.example.org', 'localhost']);
  t.is(c.logLevel, 'debug');
  t.is(c.drainMs, 250);
});

test('environment variables apply, and flags win over them', (t) => {
  const env = { AMBIT_CONFIG: 'from-env.yaml', TRUST_DOMAIN: 'env.local', AMBIT_STATE_DIR: '/s', LOG_LEVEL: 'warn', AMBIT_XDS_REQUIRE_TOKEN: 'true', AMBIT_LISTEN: '' };
  const c = parseConfig(['--trust-domain', 'flag.local'], env);
  t.is(c.configPath, 'from-env.yaml');
  t.is(c.trustDomain, 'flag.local');
  t.is(c.logLevel, 'warn');
  t.true(c.xdsRequireToken);
  // An empty variable counts as unset.
  t.deepEqual(c.listen, { host: '127.0.0.1', port: 15012 });
});

test('all problems are gathered into one ConfigError', (t) => {
  const err = t.throws(
    () =>
      parseConfig([
        'stray',
        '--listen',
        '127.0.0.1:99999',
        '--admin',
        'nohost',
        '--trust-domain',
        'Bad_Domain',
        '--cluster-id',
        'a/b',
        '--ca-cert',
        'x.pem',
        '--log-level',
        'loud',
        '--bogus',
        '--server-name',
        'not a name',
        '--xds-require-token=maybe',
        '--drain-seconds',
        '-1',
        '--tokens',
        '--log-level',
        'info',
      ]),
    { instanceOf: ConfigError },
  );
  t.is(err.code, 'CP_ERR_CONFIG');
  t.deepEqual(err.problems, [
    'unexpected argument "stray"',
    'unknown flag --bogus (see --help)',
    '--tokens needs a value',
    '--log-level is given more than once',
    '--config <path> is required (a mesh YAML file or directory)',
    '--listen: port 99999 in "127.0.0.1:99999" is not 0-65535',
    '--admin: "nohost" is not host:port (IPv6 as [addr]:port)',
    '--trust-domain: trust domain "Bad_Domain" may hold only a-z, 0-9, ".", "-" and "_"',
    '--cluster-id "a/b" must be non-empty and without "/"',
    '--ca-cert and --ca-key go together',
    '--xds-require-token must be true or false, got "maybe"',
    '--server-name "not a name" is not a DNS name',
    '--drain-seconds must be a number of seconds from 0 to 3600, got "-1"',
  ]);
  t.true(err.message.startsWith('13 configuration problems:'));
});

test('a generated CA needs a state directory; chain and root need CA files; same listen and admin clash', (t) => {
  const e1 = t.throws(() => parseConfig(['--config', 'm.yaml']), { instanceOf: ConfigError });
  t.deepEqual(e1.problems, ['without --ca-cert/--ca-key a root CA is generated, and --state-dir is needed to keep it and publish root-cert.pem']);
  const e2 = t.throws(() => parseConfig(['--config', 'm.yaml', '--state-dir', 's', '--root-cert', 'r.pem', '--listen', '127.0.0.1:7000', '--admin', '127.0.0.1:7000']), {
    instanceOf: ConfigError,
  });
  t.deepEqual(e2.problems, ['--listen and --admin are both 127.0.0.1:7000', '--ca-chain and --root-cert need --ca-cert and --ca-key']);
  const e3 = t.throws(() => parseConfig(['--config', 'm.yaml', '--ca-cert', 'c', '--ca-key', 'k', '--xds-require-token']), { instanceOf: ConfigError });
  t.deepEqual(e3.problems, ['--xds-require-token needs tokens: --tokens <file> or --state-dir (generated node tokens)']);
  const e4 = t.throws(() => parseConfig(['--config', ' ', '--state-dir', 's']), { instanceOf: ConfigError });
  t.deepEqual(e4.problems, ['--config is empty', '--config <path> is required (a mesh YAML file or directory)']);
});

test('--help yields the usage text, which lists every flag with its variable', (t) => {
  const help = t.throws(() => parseConfig(['--config', 'x', '--help']), { instanceOf: HelpRequested });
  t.is(help.reason, usage());
  for (const flag of ['--config', '--listen', '--admin', '--trust-domain', '--cluster-id', '--ca-cert', '--ca-key', '--ca-chain', '--root-cert', '--state-dir', '--tokens', '--log-level']) {
    t.true(help.reason.includes(flag), flag);
  }
  t.true(help.reason.includes('[env TRUST_DOMAIN]'));
});

test('host:port parsing', (t) => {
  t.deepEqual(parseHostPort('0.0.0.0:15012'), { host: '0.0.0.0', port: 15012 });
  t.deepEqual(parseHostPort('[::]:1'), { host: '::', port: 1 });
  t.deepEqual(parseHostPort('istiod.istio-system.svc:15012'), { host: 'istiod.istio-system.svc', port: 15012 });
  t.is(parseHostPort('::1:80'), '"::1:80" is not host:port (IPv6 as [addr]:port)');
  t.is(parseHostPort('[10.0.0.1]:80'), '"10.0.0.1" is not an IPv6 address');
  t.is(parseHostPort('host:'), '"host:" is not host:port (IPv6 as [addr]:port)');
  t.is(parseHostPort('bad_host:80'), '"bad_host" is neither an IP address nor a host name');
});
