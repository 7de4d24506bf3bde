/**
 * networking.istio.io DestinationRule: what happens to traffic after routing chose a service — connection
 * pool limits (circuit breaking), outlier detection, load balancing (simple or consistent hash), per port
 * and per subset.
 *
 * Settings the waypoint does not implement are of two sorts. Tuning knobs that only bound resources
 * (keepalives, idle timeouts, requests per connection, locality weights) are reported and ignored: the
 * traffic still flows as written. Settings that would change where or how traffic goes (TLS origination,
 * PASSTHROUGH, tunnels, PROXY protocol) are refused, since ignoring them would send traffic somewhere the
 * author did not mean.
 */
import type { Field } from '../field.js';
import { decodeMatchLabels } from '../metadata.js';
import { checkDns1123Label, checkDns1123Subdomain } from '../names.js';
import type { KindDecoder } from '../registry.js';
import type {
  ConnectionPoolSettings,
  ConsistentHashKey,
  DestinationRuleObject,
  LoadBalancerSettings,
  OutlierDetectionSettings,
  Subset,
  TrafficPolicy,
  TrafficPolicySettings,
} from '../traffic-objects.js';
import { checkHeaderName } from './gateway-api-fields.js';
import { checkHost, istioDuration } from './istio-fields.js';

const UINT32_MAX = 4_294_967_295;

export const destinationRuleDecoder: KindDecoder<DestinationRuleObject> = {
  kind: 'DestinationRule',
  apiVersions: ['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3'],
  namespaced: true,
  checkName: checkDns1123Subdomain,
  decode(doc, { apiVersion, metadata, source }) {
    const spec = doc.child('spec');
    spec.object(true);
    spec.onlyKeys(['host', 'trafficPolicy', 'subsets', 'exportTo', 'workloadSelector']);
    const hostField = spec.child('host');
    const host = hostField.string({ required: true, check: checkHost });
    if (host !== undefined && host.includes('*')) hostField.error('must name one service: wildcard hosts are not supported by the waypoint');
    if (spec.child('workloadSelector').present) spec.child('workloadSelector').error('is for sidecars; a waypoint applies a DestinationRule by host');
    // exportTo controls visibility to sidecars in other namespaces; a waypoint serves the destination side.
    spec.child('exportTo').stringList();
    const trafficPolicy = decodeTrafficPolicy(spec.child('trafficPolicy'));
    const subsets: Subset[] = [];
    const names = new Map<string, number>();
    (spec.child('subsets').list() ?? []).forEach((item, index) => {
      item.object(true);
      item.onlyKeys(['name', 'labels', 'trafficPolicy']);
      const nameField = item.child('name');
      const name = nameField.string({ required: true, check: checkDns1123Label });
      const labels = decodeMatchLabels(item.child('labels')) ?? {};
      const policy = decodeTrafficPolicy(item.child('trafficPolicy'));
      if (name === undefined) return;
      const first = names.get(name);
      if (first !== undefined) nameField.error(`duplicates the name of spec.subsets[${first}]`);
      names.set(name, index);
      subsets.push({ name, labels, ...(policy !== undefined ? { trafficPolicy: policy } : {}) });
    });
    return {
      kind: 'DestinationRule',
      apiVersion,
      metadata,
      source,
      host: host ?? '',
      ...(trafficPolicy !== undefined ? { trafficPolicy } : {}),
      subsets,
    };
  },
};

function decodeTrafficPolicy(field: Field): TrafficPolicy | undefined {
  if (!field.object()) return undefined;
  field.onlyKeys(['loadBalancer', 'connectionPool', 'outlierDetection', 'tls', 'portLevelSettings', 'tunnel', 'proxyProtocol', 'retryBudget']);
  const settings = decodeSettings(field);
  for (const key of ['tunnel', 'proxyProtocol', 'retryBudget']) {
    if (field.child(key).present) field.child(key).error('is not supported by the waypoint');
  }
  const portLevelSettings: { port: number; settings: TrafficPolicySettings }[] = [];
  const ports = new Map<number, number>();
  (field.child('portLevelSettings').list() ?? []).forEach((item, index) => {
    item.object(true);
    item.onlyKeys(['port', 'loadBalancer', 'connectionPool', 'outlierDetection', 'tls']);
    const portField = item.child('port');
    portField.object(true);
    portField.onlyKeys(['number']);
    const port = portField.child('number').integer({ required: true, min: 1, max: 65535 });
    const portSettings = decodeSettings(item);
    if (port === undefined) return;
    const first = ports.get(port);
    if (first !== undefined) portField.error(`port ${port} already has settings in portLevelSettings[${first}]`);
    ports.set(port, index);
    portLevelSettings.push({ port, settings: portSettings });
  });
  return { ...settings, portLevelSettings };
}

function decodeSettings(field: Field): TrafficPolicySettings {
  const connectionPool = decodeConnectionPool(field.child('connectionPool'));
  const outlierDetection = decodeOutlierDetection(field.child('outlierDetection'));
  const loadBalancer = decodeLoadBalancer(field.child('loadBalancer'));
  const tls = field.child('tls');
  if (tls.object()) {
    const mode = tls.child('mode').string();
    // In the mesh every hop is HBONE (mutual TLS with mesh identities): ISTIO_MUTUAL says just that.
    if (mode !== 'ISTIO_MUTUAL') tls.error('is not supported by the waypoint except mode ISTIO_MUTUAL (mesh traffic is always mutual TLS over HBONE)');
  }
  return {
    ...(connectionPool !== undefined ? { connectionPool } : {}),
    ...(outlierDetection !== undefined ? { outlierDetection } : {}),
    ...(loadBalancer !== undefined ? { loadBalancer } : {}),
  };
}

function ignored(field: Field, keys: readonly string[]): void {
  for (const key of keys) if (field.child(key).present) field.child(key).warn('is not implemented by the waypoint and is ignored');
}

function decodeConnectionPool(field: Field): ConnectionPoolSettings | undefined {
  if (!field.object()) return undefined;
  field.onlyKeys(['tcp', 'http']);
  const tcp = field.child('tcp');
  tcp.object();
  tcp.onlyKeys(['maxConnections', 'connectTimeout', 'tcpKeepalive', 'maxConnectionDuration', 'idleTimeout']);
  ignored(tcp, ['tcpKeepalive', 'maxConnectionDuration', 'idleTimeout']);
  const http = field.child('http');
  http.object();
  http.onlyKeys([
    'http1MaxPendingRequests',
    'http2MaxRequests',
    'maxRequestsPerConnection',
    'maxRetries',
    'idleTimeout',
    'h2UpgradePolicy',
    'useClientProtocol',
    'maxConcurrentStreams',
  ]);
  ignored(http, ['maxRequestsPerConnection', 'idleTimeout', 'h2UpgradePolicy', 'maxConcurrentStreams']);
  const limit = { min: 1, max: UINT32_MAX };
  const maxConnections = tcp.child('maxConnections').integer(limit);
  const connectTimeoutMs = istioDuration(tcp.child('connectTimeout'));
  const http1MaxPendingRequests = http.child('http1MaxPendingRequests').integer(limit);
  const http2MaxRequests = http.child('http2MaxRequests').integer(limit);
  const maxRetries = http.child('maxRetries').integer({ min: 0, max: UINT32_MAX });
  const useClientProtocol = http.child('useClientProtocol').boolean();
  return {
    ...(useClientProtocol !== undefined ? { useClientProtocol } : {}),
    ...(maxConnections !== undefined ? { maxConnections } : {}),
    ...(connectTimeoutMs !== undefined ? { connectTimeoutMs } : {}),
    ...(http1MaxPendingRequests !== undefined ? { http1MaxPendingRequests } : {}),
    ...(http2MaxRequests !== undefined ? { http2MaxRequests } : {}),
    ...(maxRetries !== undefined ? { maxRetries } : {}),
  };
}

function decodeOutlierDetection(field: Field): OutlierDetectionSettings | undefined {
  if (!field.object()) return undefined;
  field.onlyKeys([
    'consecutive5xxErrors',
    'consecutiveGatewayErrors',
    'consecutiveErrors',
    'interval',
    'baseEjectionTime',
    'maxEjectionPercent',
    'minHealthPercent',
    'splitExternalLocalOriginErrors',
    'consecutiveLocalOriginFailures',
  ]);
  if (field.child('consecutiveErrors').present) field.child('consecutiveErrors').error('is deprecated; use consecutive5xxErrors or consecutiveGatewayErrors');
  ignored(field, ['minHealthPercent', 'splitExternalLocalOriginErrors', 'consecutiveLocalOriginFailures']);
  const consecutive5xxErrors = field.child('consecutive5xxErrors').integer({ min: 0, max: UINT32_MAX });
  const consecutiveGatewayErrors = field.child('consecutiveGatewayErrors').integer({ min: 0, max: UINT32_MAX });
  const intervalMs = istioDuration(field.child('interval'));
  const baseEjectionTimeMs = istioDuration(field.child('baseEjectionTime'));
  const maxEjectionPercent = field.child('maxEjectionPercent').integer({ min: 0, max: 100 });
  return {
    ...(consecutive5xxErrors !== undefined ? { consecutive5xxErrors } : {}),
    ...(consecutiveGatewayErrors !== undefined ? { consecutiveGatewayErrors } : {}),
    ...(intervalMs !== undefined ? { intervalMs } : {}),
    ...(baseEjectionTimeMs !== undefined ? { baseEjectionTimeMs } : {}),
    ...(maxEjectionPercent !== undefined ? { maxEjectionPercent } : {}),
  };
}

function decodeLoadBalancer(field: Field): LoadBalancerSettings | undefined {
  if (!field.object()) return undefined;
  field.onlyKeys(['simple', 'consistentHash', 'localityLbSetting', 'warmupDurationSecs', 'warmup']);
  ignored(field, ['localityLbSetting', 'warmupDurationSecs', 'warmup']);
  const simpleField = field.child('simple');
  const simple = simpleField.oneOf(['UNSPECIFIED', 'ROUND_ROBIN', 'LEAST_CONN', 'LEAST_REQUEST', 'RANDOM', 'PASSTHROUGH'] as const);
  if (simple === 'PASSTHROUGH') simpleField.error('PASSTHROUGH (to the original destination) is not supported by the waypoint');
  const hashField = field.child('consistentHash');
  if (simpleField.present && hashField.present) field.error('sets both simple and consistentHash; choose one');
  const consistentHash = decodeConsistentHash(hashField);
  const normalized = simple === 'LEAST_CONN' ? 'LEAST_REQUEST' : simple === 'UNSPECIFIED' || simple === 'PASSTHROUGH' ? undefined : simple;
  return {
    ...(normalized !== undefined ? { simple: normalized } : {}),
    ...(consistentHash !== undefined ? { consistentHash } : {}),
  };
}

function decodeConsistentHash(field: Field): LoadBalancerSettings['consistentHash'] {
  if (!field.object()) return undefined;
  field.onlyKeys(['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName', 'ringHash', 'maglev', 'minimumRingSize']);
  const keys = ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'].filter((k) => field.child(k).present);
  if (keys.length !== 1) {
    field.error(keys.length === 0 ? 'must set one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName' : `sets ${keys.join(' and ')}; set exactly one hash key`);
    return undefined;
  }
  if (field.child('ringHash').present && field.child('maglev').present) field.error('sets both ringHash and maglev; choose one');
  ignored(field, ['minimumRingSize']);
  for (const table of ['ringHash', 'maglev'] as const) {
    const t = field.child(table);
    if (t.object()) ignored(t, ['minimumRingSize', 'tableSize']);
  }
  const tableKind = field.child('maglev').present ? 'maglev' : 'ring-hash';
  let key: ConsistentHashKey | undefined;
  switch (keys[0] as 'httpHeaderName' | 'httpQueryParameterName' | 'useSourceIp' | 'httpCookie') {
    case 'httpHeaderName': {
      const name = field.child('httpHeaderName').string({ required: true, check: checkHeaderName });
      if (name !== undefined) key = { kind: 'header', name: name.toLowerCase() };
      break;
    }
    case 'httpQueryParameterName': {
      const name = field.child('httpQueryParameterName').string({ required: true });
      if (name !== undefined) key = { kind: 'query', name };
      break;
    }
    case 'useSourceIp': {
      const on = field.child('useSourceIp').boolean(true);
      if (on === false) field.child('useSourceIp').error('must be true when it is the hash key');
      if (on === true) key = { kind: 'source-ip' };
      break;
    }
    case 'httpCookie': {
      const cookie = field.child('httpCookie');
      cookie.object(true);
      cookie.onlyKeys(['name', 'path', 'ttl', 'attributes']);
      const name = cookie.child('name').string({ required: true });
      const path = cookie.child('path').string();
      if (cookie.child('ttl').present) cookie.child('ttl').warn('is ignored: the waypoint hashes on the cookie when the client sends it and does not set it');
      ignored(cookie, ['attributes']);
      if (name !== undefined) key = { kind: 'cookie', name, ...(path !== undefined ? { path } : {}) };
      break;
    }
  }
  return key === undefined ? undefined : { key, table: tableKind };
}
