/**
 * Builders for Envoy resources in tests: objects are encoded with the real protobuf codecs and decoded
 * again, so the compilers see exactly what the xDS client hands them (oneof discriminators, enums as
 * names, zero values omitted).
 */
import { envoyCodec, type ProtoAny } from '@ambit/protos';

export const T = {
  listener: 'envoy.config.listener.v3.Listener',
  route: 'envoy.config.route.v3.RouteConfiguration',
  cluster: 'envoy.config.cluster.v3.Cluster',
  cla: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
  hcm: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  tcpProxy: 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  httpRbac: 'envoy.extensions.filters.http.rbac.v3.RBAC',
  networkRbac: 'envoy.extensions.filters.network.rbac.v3.RBAC',
  jwt: 'envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication',
  fault: 'envoy.extensions.filters.http.fault.v3.HTTPFault',
  router: 'envoy.extensions.filters.http.router.v3.Router',
  httpOptions: 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
} as const;

/** Encodes `value` as an Any of `type`. */
export function any(type: string, value: object): ProtoAny {
  return { type_url: `type.googleapis.com/${type}`, value: envoyCodec<object>(type).encode(value) };
}

/** Encodes then decodes, giving the shape the compilers receive. */
export function roundTrip<T extends object>(type: string, value: object): T {
  const codec = envoyCodec<object>(type);
  return codec.decode(codec.encode(value)) as T;
}

export function encode(type: string, value: object): Buffer {
  return envoyCodec<object>(type).encode(value);
}
