/**
 * One HTTP request through the waypoint, the same for HTTP/1.1 (our connections) and HTTP/2 (Node's):
 *
 *   parse + normalize the target (400 on a malformed one) → RequestAttributes → virtual host and route →
 *   JWT (401) → RBAC (403) → no route? (404 NR) → fault delay, fault abort → direct response | redirect |
 *   forward (see `forward.ts`)
 *
 * Route selection happens before the filters but its absence is answered after them, as in Envoy (the
 * router is the last filter), so an unknown path still needs a valid token and an allowed identity. The
 * snapshot is read once, when the request arrives; a swap during the request does not affect it.
 */
import { findBinding } from '../config/listener.js';
import type { ForwardAction, HeaderLookup, HttpChain, RequestAttributes, RequestAuthentication, Route, VirtualHost } from '../config/types.js';
import { addHeader, firstValue, headerMapFromRaw, applyMutation, isEmptyMutation, type HeaderMap } from '../route/headers.js';
import { parseTarget, type ParsedTarget } from '../route/path.js';
import { redirectLocation, rewritePath } from '../route/rewrite.js';
import { parseQuery, selectRoute, selectVirtualHost } from '../route/select.js';
import { newRequestId, propagateTrace } from '../route/trace.js';
import { combineHash, hash52 } from '../upstream/hash.js';
import type { ProxyContext, TunnelContext } from './context.js';
import { localReply } from './downstream-response.js';
import { drain, forward } from './forward.js';
import type { DownstreamRequest, DownstreamResponse } from './message.js';
import { RequestRecord } from './record.js';

export async function handleRequest(ctx: ProxyContext, tunnel: TunnelContext, req: DownstreamRequest, res: DownstreamResponse): Promise<void> {
  const started = ctx.clock.now();
  const protocol = req.protocol;
  const snapshot = ctx.snapshot();
  const binding = findBinding(snapshot.bindings, tunnel.bindingKey, tunnel.connection.destinationIp);
  const host = (req.authority ?? tunnel.bindingKey).toLowerCase();
  const method = req.method;
  const record = new RequestRecord(method, req.url, host, protocol, binding?.destinationService ?? 'unknown', started);
  res.once('close', () => {
    record.onDownstreamClose?.();
    record.finish(ctx, tunnel, ctx.clock.now());
  });
  const chain = binding?.http;
  if (chain === undefined) {
    localReply(res, record, 503, `${tunnel.bindingKey} is no longer bound to this waypoint`, 'NR', 'binding_removed');
    drain(req.body);
    return;
  }
  const target = parseTarget(req.url, chain.pathNormalization);
  if ('error' in target) {
    localReply(res, record, 400, `Bad Request: ${target.error}`, 'DPE', 'path_normalization_failed');
    drain(req.body);
    return;
  }
  record.path = target.hasQuery ? `${target.path}?${target.query}` : target.path;
  try {
    await route(ctx, tunnel, req, res, record, chain, target, host, method, protocol);
  } catch (err) {
    ctx.logger.error({ err, path: record.path }, 'request handling failed');
    localReply(res, record, 500, 'internal error', undefined, 'internal_error');
    drain(req.body);
  }
}

async function route(
  ctx: ProxyContext,
  tunnel: TunnelContext,
  req: DownstreamRequest,
  res: DownstreamResponse,
  record: RequestRecord,
  chain: HttpChain,
  target: ParsedTarget,
  host: string,
  method: string,
  protocol: 'http1' | 'http2',
): Promise<void> {
  const attrs: RequestAttributes = {
    method,
    path: target.path,
    query: target.query,
    host,
    headers: new AttributeHeaders(req.rawHeaders),
    scheme: (firstRaw(req.rawHeaders, 'x-forwarded-proto') ?? 'http').toLowerCase(),
  };
  const vhost = selectVirtualHost(chain.routeTable, host);
  const matched = vhost === undefined ? undefined : selectRoute(vhost, attrs);
  let auth: RequestAuthentication | undefined;
  if (!chain.jwt.empty) {
    const outcome = await chain.jwt.authenticate(attrs);
    if (outcome.kind === 'failed') {
      const www = `Bearer realm="http://${host}${target.path}", error="invalid_token"`;
      const headers = Object.create(null) as HeaderMap;
      headers['www-authenticate'] = www;
      localReply(res, record, 401, 'Jwt verification fails', undefined, `jwt_authn_access_denied{${outcome.reason}}`, headers);
      drain(req.body);
      return;
    }
    if (outcome.kind === 'verified') auth = outcome.auth;
  }
  if (!chain.rbac.empty) {
    const decision = chain.rbac.evaluate(attrs, tunnel.connection, auth);
    if (!decision.allowed) {
      localReply(res, record, 403, 'RBAC: access denied', undefined, `rbac_access_denied_matched_policy[${decision.policy ?? 'none'}]`);
      drain(req.body);
      return;
    }
  }
  if (vhost === undefined || matched === undefined) {
    localReply(res, record, 404, '', 'NR', 'route_not_found');
    drain(req.body);
    return;
  }
  record.route = matched.name;
  if (matched.fault !== undefined) {
    const { delay, abort } = matched.fault;
    if (delay !== undefined && ctx.random() * 1_000_000 < delay.ppm) {
      record.addFlag('DI');
      await new Promise<void>((resolve) => ctx.clock.setTimeout(resolve, delay.fixedMs));
      if (res.destroyed) return;
    }
    if (abort !== undefined && ctx.random() * 1_000_000 < abort.ppm) {
      localReply(res, record, abort.status, 'fault filter abort', 'FI', 'fault_filter_abort');
      drain(req.body);
      return;
    }
  }
  const action = matched.action;
  switch (action.kind) {
    case 'direct-response': {
      const headers = responseMutations(matched, vhost);
      localReply(res, record, action.status, action.body, undefined, 'direct_response', headers);
      drain(req.body);
      return;
    }
    case 'redirect': {
      const headers = responseMutations(matched, vhost);
      headers['location'] = redirectLocation(action, matched.path, { scheme: attrs.scheme, host, path: target.path, query: target.query, hasQuery: target.hasQuery });
      localReply(res, record, action.status, '', undefined, 'redirect', headers);
      drain(req.body);
      return;
    }
    case 'forward': {
      const headers = headerMapFromRaw(req.rawHeaders);
      for (const name of chain.jwt.stripHeaders) delete headers[name];
      // The client was told to go on (100 Continue) when its request arrived, as Envoy does by default;
      // the upstream must not answer it a second time.
      if (firstValue(headers, 'expect')?.toLowerCase() === '100-continue') delete headers['expect'];
      addHeader(headers, 'x-forwarded-for', tunnel.connection.sourceIp);
      headers['x-forwarded-proto'] ??= attrs.scheme;
      const requestId = firstValue(headers, 'x-request-id') ?? newRequestId();
      headers['x-request-id'] = requestId;
      record.requestId = requestId;
      record.traceId = propagateTrace(headers);
      const path = rewritePath(action, matched.path, target.path);
      await forward(ctx, {
        action,
        route: matched,
        vhost,
        method,
        path: target.hasQuery ? `${path}?${target.query}` : path,
        authority: action.hostRewrite ?? host,
        headers,
        downstreamProtocol: protocol,
        hash: requestHash(action.hashPolicies, attrs, tunnel),
        destination: tunnel.connection,
        src: req.body,
        bodyKnownEmpty: req.bodyKnownEmpty,
        request: req,
        res,
        record,
      });
      return;
    }
  }
}

function responseMutations(route: Route, vhost: VirtualHost): HeaderMap {
  const headers = Object.create(null) as HeaderMap;
  if (!isEmptyMutation(route.responseHeaders)) applyMutation(headers, route.responseHeaders);
  if (!isEmptyMutation(vhost.responseHeaders)) applyMutation(headers, vhost.responseHeaders);
  return headers;
}

/**
 * Headers for matching and policy: every value of every header, in order, pseudo-headers left out. The map
 * is built on the first lookup: most routes match on path alone and most policies on identity, so most
 * requests never need it.
 */
class AttributeHeaders implements HeaderLookup {
  readonly #raw: readonly string[];
  #map: Map<string, string[]> | undefined;

  constructor(raw: readonly string[]) {
    this.#raw = raw;
  }

  get(name: string): readonly string[] | undefined {
    return (this.#map ??= attributeMap(this.#raw)).get(name);
  }
}

function attributeMap(raw: readonly string[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name.charCodeAt(0) === 58) continue;
    const list = map.get(name);
    if (list === undefined) map.set(name, [raw[i + 1]!]);
    else list.push(raw[i + 1]!);
  }
  return map;
}

/** The first value of header `name` (lower case) in a raw list, without building a map. */
function firstRaw(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.length === name.length && (n === name || n.toLowerCase() === name)) return raw[i + 1];
  }
  return undefined;
}

/** The request's hash for ring hash and Maglev, from the route's hash policies (undefined: none applied). */
export function requestHash(policies: ForwardHashPolicies, attrs: RequestAttributes, tunnel: TunnelContext): number | undefined {
  let hash: number | undefined;
  for (const p of policies) {
    let value: string | undefined;
    switch (p.kind) {
      case 'header':
        value = attrs.headers.get(p.name)?.[0];
        break;
      case 'query':
        value = parseQuery(attrs.query).get(p.name)?.[0];
        break;
      case 'cookie':
        value = cookie(attrs.headers.get('cookie'), p.name);
        break;
      case 'source-ip':
        value = tunnel.connection.sourceIp;
        break;
    }
    if (value === undefined) continue;
    const h = hash52(value);
    hash = hash === undefined ? h : combineHash(hash, h);
    if (p.terminal) break;
  }
  return hash;
}

type ForwardHashPolicies = ForwardAction['hashPolicies'];

function cookie(headers: readonly string[] | undefined, name: string): string | undefined {
  if (headers === undefined) return undefined;
  for (const h of headers) {
    for (const part of h.split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
    }
  }
  return undefined;
}
