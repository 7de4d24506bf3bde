/**
 * GRPCRoute: the decoder's rejection paths, and service/method matches as request paths
 * (`/<service>/<method>`), ordered together with HTTPRoutes on the same Service.
 */
import test from 'ava';
import { defaultRegistry } from '../src/input/kinds/index.js';
import { parseFile } from '../src/input/parse-file.js';
import { cluster, grpcRoute, httpChain, httpRoute, problems, routes, service, waypointMesh } from './fixtures/waypoint-mesh.js';

function rejections(spec: string): [string, string][] {
  const text = `apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: g, namespace: shop}\nspec:\n${spec}\n`;
  const result = parseFile('g.yaml', text, defaultRegistry());
  if (!result.ok) throw new Error('YAML did not parse');
  const errors = result.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0 && result.documents[0]?.object !== undefined) throw new Error('a document with errors was decoded');
  return errors.map((d) => [d.path, d.message]);
}

const PARENT = '  parentRefs: [{group: "", kind: Service, name: greeter, port: 50051}]';
const greeter = service('greeter', '10.96.0.50', [{ name: 'grpc', port: 50051 }]);
const greeterV2 = service('greeter-v2', '10.96.0.51', [{ name: 'grpc', port: 50051 }]);

test('decoder: method matches need a service or a method, in gRPC syntax or as valid regular expressions', (t) => {
  const rule = (match: string, extra = ''): string => `${PARENT}\n  rules: [{matches: [${match}], backendRefs: [{name: greeter, port: 50051}]${extra}}]`;
  t.deepEqual(rejections(rule('{method: {type: Exact}}')), [['spec.rules[0].matches[0].method', 'must set service, method or both']]);
  t.deepEqual(rejections(rule('{method: {service: "hello world"}}')), [
    ['spec.rules[0].matches[0].method.service', '"hello world" is not a gRPC service name such as "helloworld.Greeter"'],
  ]);
  t.deepEqual(rejections(rule('{method: {method: "Say/Hello"}}')), [
    ['spec.rules[0].matches[0].method.method', '"Say/Hello" is not a gRPC method name such as "SayHello"'],
  ]);
  t.deepEqual(rejections(rule('{method: {type: RegularExpression, service: "a(("}}'))[0]?.[0], 'spec.rules[0].matches[0].method.service');
  t.deepEqual(rejections(rule('{method: {type: Prefix, service: a}}')), [
    ['spec.rules[0].matches[0].method.type', 'must be one of Exact, RegularExpression, got "Prefix"'],
  ]);
  t.deepEqual(rejections(rule('{path: {value: /x}}')), [['spec.rules[0].matches[0].path', 'unknown field; expected one of method, headers']]);
  t.deepEqual(rejections(rule('{headers: [{name: x, value: "1"}, {name: x, value: "2"}]}')), [
    ['spec.rules[0].matches[0].headers[1].name', 'the header "x" is matched twice in one match; combine the values into one'],
  ]);
  t.deepEqual(rejections(rule('{headers: []}', ', filters: [{type: URLRewrite, urlRewrite: {hostname: a}}]')), [
    ['spec.rules[0].filters[0].type', 'filter type "URLRewrite" is not supported here; supported: RequestHeaderModifier, ResponseHeaderModifier, RequestMirror'],
  ]);
  t.deepEqual(rejections(rule('{headers: []}', ', timeouts: {request: 1s}')), [
    ['spec.rules[0].timeouts', 'unknown field; expected one of name, matches, filters, backendRefs, sessionPersistence'],
  ]);
});

test('service and method matches become paths: exact pair, service prefix, method regex, regular expressions', (t) => {
  const mesh = waypointMesh(
    greeter,
    greeterV2,
    grpcRoute(
      'g',
      `${PARENT}
  rules:
    - matches:
        - method: {service: helloworld.Greeter, method: SayHello}
        - method: {service: helloworld.Greeter}
        - method: {method: SayBye}
        - method: {type: RegularExpression, service: "helloworld\\\\..*"}
          headers: [{name: x-tenant, value: a}]
      backendRefs: [{name: greeter-v2, port: 50051}]
    - backendRefs: [{name: greeter, port: 50051}]`,
    ),
  );
  t.deepEqual(problems(mesh), []);
  const rs = routes(mesh, httpChain('greeter', 50051));
  t.deepEqual(
    rs.map((r) => [r.name, r.match]),
    [
      ['shop/g.0.0', { path: '/helloworld.Greeter/SayHello' }],
      ['shop/g.0.3', { safe_regex: { google_re2: {}, regex: '/helloworld\\..*/[^/]+' }, headers: [{ name: 'x-tenant', string_match: { exact: 'a' } }] }],
      ['shop/g.0.2', { safe_regex: { google_re2: {}, regex: '/[^/]+/SayBye' } }],
      ['shop/g.0.1', { prefix: '/helloworld.Greeter/' }],
      ['shop/g.1.0', { prefix: '/' }],
    ],
  );
  t.is(rs[0]?.route?.cluster, cluster('greeter-v2', 50051));
  // The path forms are what gRPC requests look like.
  t.true(new RegExp(`^${rs[2]!.match.safe_regex!.regex}$`, 'u').test('/pkg.Svc/SayBye'));
});

test('GRPCRoutes and HTTPRoutes on one Service are ordered together by precedence', (t) => {
  const mesh = waypointMesh(
    greeter,
    greeterV2,
    grpcRoute('g', `${PARENT}\n  rules: [{matches: [{method: {service: a.B}}], backendRefs: [{name: greeter-v2, port: 50051}]}]`),
    httpRoute('h', `${PARENT}\n  rules: [{matches: [{path: {type: Exact, value: /health}}], backendRefs: [{name: greeter, port: 50051}]}]`),
  );
  t.deepEqual(
    routes(mesh, httpChain('greeter', 50051)).map((r) => r.name),
    ['shop/h.0.0', 'shop/g.0.0'],
  );
});
