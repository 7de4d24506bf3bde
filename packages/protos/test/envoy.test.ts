import { existsSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import {
  ADS_PROTO_FILE,
  ADS_SERVICE_NAME,
  ADDRESS_TYPE_URL,
  UnknownProtoTypeError,
  addressCodec,
  adsServiceDefinition,
  envoyCodec,
  envoyIncludeDirs,
  unpackAny,
} from '../src/index.js';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse } from '../src/index.js';

function method(name: string) {
  const m = adsServiceDefinition().service[name];
  if (!m) throw new Error(`no method ${name}`);
  return m;
}

test('the include dirs exist and hold the ADS proto', (t) => {
  const dirs = envoyIncludeDirs();
  t.is(dirs.length, 4);
  for (const dir of dirs) t.true(existsSync(dir), dir);
  t.true(existsSync(path.join(dirs[0]!, ADS_PROTO_FILE)));
});

test('the ADS service has both bidirectional streams on Envoy\'s paths', (t) => {
  for (const name of ['StreamAggregatedResources', 'DeltaAggregatedResources']) {
    const m = method(name);
    t.is(m.path, `/${ADS_SERVICE_NAME}/${name}`);
    t.true(m.requestStream);
    t.true(m.responseStream);
  }
});

test('a delta response wrapping an Istio Address round-trips through the grpc-js serializers', (t) => {
  const m = method('DeltaAggregatedResources');
  const address = addressCodec().encode({ workload: { uid: 'c/p', name: 'p', tunnel_protocol: 'HBONE' } });
  const response: DeltaDiscoveryResponse = {
    system_version_info: 'v1',
    type_url: ADDRESS_TYPE_URL,
    nonce: 'n1',
    resources: [{ name: 'c/p', version: '7', resource: { type_url: ADDRESS_TYPE_URL, value: address } }],
    removed_resources: ['gone'],
    control_plane: { identifier: 'cp' },
  };
  const decoded = m.responseDeserialize(m.responseSerialize(response)) as DeltaDiscoveryResponse;
  t.is(decoded.nonce, 'n1');
  t.deepEqual(decoded.removed_resources, ['gone']);
  const resource = decoded.resources?.[0];
  t.is(resource?.name, 'c/p');
  t.is(resource?.version, '7');
  t.is(resource?.resource?.type_url, ADDRESS_TYPE_URL);
  t.true(Buffer.isBuffer(resource?.resource?.value));
  t.is(addressCodec().decode(resource!.resource!.value!).workload?.uid, 'c/p');
  t.deepEqual(decoded.control_plane, { identifier: 'cp' });
});

test('a delta request keeps its field numbers and both loaders agree on its shape', (t) => {
  const m = method('DeltaAggregatedResources');
  // type_url is field 2 of DeltaDiscoveryRequest: tag 0x12.
  t.deepEqual([...m.requestSerialize({ type_url: 'a' })], [0x12, 0x01, 0x61]);
  const request: DeltaDiscoveryRequest = {
    node: {
      id: 'ztunnel~10.0.0.1~zt.istio-system~istio-system.svc.cluster.local',
      cluster: 'Kubernetes',
      metadata: { fields: { NAME: { stringValue: 'zt' }, INSTANCE_IPS: { stringValue: '10.0.0.1' } } },
    },
    type_url: ADDRESS_TYPE_URL,
    resource_names_subscribe: ['*'],
    initial_resource_versions: { a: '1', b: '2' },
    response_nonce: 'n',
    error_detail: { code: 3, message: 'a: bad' },
  };
  const bytes = m.requestSerialize(request);
  const viaGrpc = m.requestDeserialize(bytes) as DeltaDiscoveryRequest;
  const viaCodec = envoyCodec<DeltaDiscoveryRequest>('envoy.service.discovery.v3.DeltaDiscoveryRequest').decode(bytes);
  t.deepEqual(viaGrpc.initial_resource_versions, { a: '1', b: '2' });
  t.deepEqual(viaGrpc.error_detail, { code: 3, message: 'a: bad' });
  t.is(viaGrpc.node?.metadata?.fields?.['NAME']?.stringValue, 'zt');
  t.deepEqual(JSON.parse(JSON.stringify(viaCodec)), JSON.parse(JSON.stringify(viaGrpc)));
});

test('state-of-the-world request and response round-trip', (t) => {
  const m = method('StreamAggregatedResources');
  const request: DiscoveryRequest = { version_info: '3', resource_names: ['x', 'y'], type_url: 't', response_nonce: 'n' };
  t.deepEqual(m.requestDeserialize(m.requestSerialize(request)), request);
  const response: DiscoveryResponse = { version_info: '4', type_url: 't', nonce: 'm', resources: [{ type_url: 't', value: Buffer.from([1]) }] };
  const decoded = m.responseDeserialize(m.responseSerialize(response)) as DiscoveryResponse;
  t.is(decoded.version_info, '4');
  t.deepEqual(decoded.resources?.[0]?.value, Buffer.from([1]));
});

test('envoyCodec loads other Envoy packages on demand, by name or type URL', (t) => {
  const cluster = envoyCodec<{ name?: string; connect_timeout?: { seconds?: number }; type?: string }>(
    'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  );
  t.is(cluster.typeUrl, 'type.googleapis.com/envoy.config.cluster.v3.Cluster');
  const decoded = cluster.decode(cluster.encode({ name: 'outbound|80||a.b', connect_timeout: { seconds: 5 }, type: 'EDS' }));
  t.deepEqual(decoded, { name: 'outbound|80||a.b', connect_timeout: { seconds: 5 }, type: 'EDS', cluster_discovery_type: 'type' });
  t.is(envoyCodec('envoy.config.cluster.v3.Cluster'), cluster, 'codecs are cached');
  // A nested type resolves to its package directory.
  t.is(envoyCodec('envoy.config.route.v3.RouteAction.HashPolicy').type.name, 'HashPolicy');
});

test('unpackAny decodes a listener filter\'s typed_config', (t) => {
  const hcmUrl = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
  const hcm = envoyCodec<{ stat_prefix?: string }>(hcmUrl);
  const listener = envoyCodec<{ name?: string; filter_chains?: { filters?: { name?: string; typed_config?: { type_url?: string; value?: Buffer } }[] }[] }>(
    'envoy.config.listener.v3.Listener',
  );
  const bytes = listener.encode({
    name: 'main',
    filter_chains: [{ filters: [{ name: 'hcm', typed_config: { type_url: hcmUrl, value: hcm.encode({ stat_prefix: 'inbound' }) } }] }],
  });
  const any = listener.decode(bytes).filter_chains?.[0]?.filters?.[0]?.typed_config;
  t.is(any?.type_url, hcmUrl);
  t.is(unpackAny<{ stat_prefix?: string }>(any!).stat_prefix, 'inbound');
});

test('unknown types are named in a precise error', (t) => {
  const a = t.throws(() => envoyCodec('envoy.config.cluster.v3.NoSuchThing'), { instanceOf: UnknownProtoTypeError });
  t.regex(a.message, /envoy\.config\.cluster\.v3\.NoSuchThing.*envoy\/config\/cluster\/v3/);
  t.is(a.code, 'PROTO_ERR_UNKNOWN_TYPE');
  t.throws(() => envoyCodec('nosuch.pkg.v1.Thing'), { instanceOf: UnknownProtoTypeError });
  t.throws(() => envoyCodec('not a name'), { instanceOf: UnknownProtoTypeError, message: /not a fully qualified/ });
  t.throws(() => unpackAny<object>({ value: Buffer.alloc(0) }), { instanceOf: UnknownProtoTypeError, message: /no type_url/ });
});
