/**
 * The router: forwards one request to a cluster with the route's resilience settings.
 *
 * 1. A weighted cluster is picked; its request header operations apply, then the route's, then the
 *    virtual host's (most specific first, as Envoy by default).
 * 2. Circuit breaker: `maxRequests` requests in flight in the cluster answer 503 `UO`; so does a full
 *    pending queue (see `HostPool`).
 * 3. Mirrors (by ppm) get a copy with `-shadow` appended to the host name; their responses are dropped and
 *    nothing of theirs is awaited.
 * 4. Attempts: a host is picked by the cluster's balancer (ring hash and Maglev use the request's hash),
 *    the request is sent, and the response head awaited under the per-try and route timeouts. A failed
 *    attempt (a retriable status, a reset, a connect failure, a per-try timeout) is retried while the
 *    policy has retries left, the cluster is below `maxRetries` concurrent retries and the body is still
 *    replayable, after an exponential backoff with full jitter. Once a response head is passed to the
 *    client nothing is retried.
 * 5. The response streams back with back-pressure; the route timeout covers it until its end, as
 *    Envoy's does. A failure after the head resets the client's stream.
 *
 * Every attempt reports to outlier detection.
 */
import type { ClientHttp2Stream } from 'node:http2';
import type { ForwardAction, Route, VirtualHost, WeightedCluster } from '../config/types.js';
import { applyMutation, firstValue, forwardableTrailers, isEmptyMutation, type HeaderMap } from '../route/headers.js';
import { retriable } from '../route/retry-on.js';
import { LazyAbort } from '../upstream/cancellation.js';
import type { ClusterState } from '../upstream/cluster-state.js';
import { UpstreamError } from '../upstream/errors.js';
import { startExchange, type Exchange, type RequestHead, type UpstreamResponse } from '../upstream/exchange.js';
import type { Host } from '../upstream/host.js';
import type { Destination } from '../upstream/original-dst.js';
import { recordOutcome, type AttemptOutcome } from '../upstream/outlier.js';
import type { ProxyContext } from './context.js';
import { localReply, resetDownstream } from './downstream-response.js';
import type { BodySource, DownstreamRequest, DownstreamResponse } from './message.js';
import type { RequestRecord } from './record.js';
import { RequestBody } from './request-body.js';

export interface ForwardRequest {
  readonly action: ForwardAction;
  readonly route: Route;
  readonly vhost: VirtualHost;
  readonly method: string;
  /** Path (rewritten) and query. */
  readonly path: string;
  readonly authority: string;
  readonly headers: HeaderMap;
  readonly downstreamProtocol: 'http1' | 'http2';
  readonly hash: number | undefined;
  /** Where the tunnel was sent: the host of an ORIGINAL_DST cluster. */
  readonly destination: Destination;
  readonly src: BodySource;
  readonly bodyKnownEmpty: boolean;
  /** Where the body's trailers come from (the downstream request). */
  readonly request: Pick<DownstreamRequest, 'trailers' | 'mayHaveTrailers'>;
  readonly res: DownstreamResponse;
  readonly record: RequestRecord;
}

/** Picks one of the weighted clusters (`random` ∈ [0, 1)). */
export function pickWeighted(action: ForwardAction, random: number): WeightedCluster {
  const clusters = action.clusters;
  if (clusters.length === 1) return clusters[0]!;
  let r = random * action.totalWeight;
  for (const c of clusters) {
    r -= c.weight;
    if (r < 0) return c;
  }
  return clusters[clusters.length - 1]!;
}

/** `reviews:9080` → `reviews-shadow:9080` (Envoy's shadow host). */
export function shadowHost(authority: string): string {
  const colon = authority.lastIndexOf(':');
  if (colon > 0 && authority.lastIndexOf(']') < colon) return `${authority.slice(0, colon)}-shadow${authority.slice(colon)}`;
  return `${authority}-shadow`;
}

type AttemptFailure = { readonly outcome: AttemptOutcome; readonly error: UpstreamError };

export async function forward(ctx: ProxyContext, f: ForwardRequest): Promise<void> {
  const { action, record, res } = f;
  const wc = pickWeighted(action, ctx.random());
  const cluster = ctx.clusters.get(wc.cluster);
  if (cluster === undefined) {
    localReply(res, record, 503, 'no cluster found', 'NC', `cluster_not_found{${wc.cluster}}`);
    drain(f.src);
    return;
  }
  record.cluster = cluster;
  const headers = f.headers;
  if (!isEmptyMutation(wc.requestHeaders)) applyMutation(headers, wc.requestHeaders);
  if (!isEmptyMutation(f.route.requestHeaders)) applyMutation(headers, f.route.requestHeaders);
  if (!isEmptyMutation(f.vhost.requestHeaders)) applyMutation(headers, f.vhost.requestHeaders);
  const config = cluster.config;
  if (cluster.counters.requests >= config.circuitBreaker.maxRequests) {
    localReply(res, record, 503, 'upstream connect error or disconnect/reset before headers. reset reason: overflow', 'UO', 'upstream_max_requests');
    drain(f.src);
    return;
  }
  const protocol = config.protocol === 'downstream' ? f.downstreamProtocol : config.protocol;
  const head: RequestHead = { method: f.method, path: f.path, authority: f.authority, headers, bodyKnownEmpty: f.bodyKnownEmpty, mayHaveTrailers: f.request.mayHaveTrailers };
  const body = new RequestBody(f.src, ctx.limits.retryBufferBytes, f.request);
  record.body = body;
  for (const m of action.mirrors) {
    if (ctx.random() * 1_000_000 < m.ppm) mirror(ctx, m.cluster, { ...head, authority: shadowHost(f.authority), headers: { ...headers } }, f.downstreamProtocol, body, f.hash, f.destination);
  }
  await new Forwarding(ctx, f, cluster, protocol, head, body, wc).run();
}

/** One request's attempts and its response (see the module comment). */
class Forwarding {
  readonly #ctx: ProxyContext;
  readonly #f: ForwardRequest;
  readonly #cluster: ClusterState;
  readonly #protocol: 'http1' | 'http2';
  readonly #head: RequestHead;
  readonly #body: RequestBody;
  readonly #wc: WeightedCluster;
  /**
   * Why the request as a whole was given up (route timeout, client gone); set once. A plain field and
   * direct calls, not an AbortController with listeners: most requests are never cancelled.
   */
  #routeAbortReason: Error | undefined;
  /**
   * Cancels the current attempt's wait for a connection (its signal is made only if the pool waits). Made
   * on the first attempt and kept for the next unless it was aborted.
   */
  #attemptAbort: LazyAbort | undefined;
  /** The host of the current attempt, for the per-try timeout's message. */
  #attemptHost: Host | undefined;
  /** Ends a retry's backoff early. */
  #wake: (() => void) | undefined;
  #routeTimer: { cancel(): void } | undefined;
  #timedOut = false;
  #current: Exchange | undefined;
  /** The host of the attempt holding the cluster's request count and the host's in-flight count. */
  #inFlight: Host | undefined;
  #response: UpstreamResponse | undefined;
  #done = false;
  #finish!: () => void;

  constructor(ctx: ProxyContext, f: ForwardRequest, cluster: ClusterState, protocol: 'http1' | 'http2', head: RequestHead, body: RequestBody, wc: WeightedCluster) {
    this.#ctx = ctx;
    this.#f = f;
    this.#cluster = cluster;
    this.#protocol = protocol;
    this.#head = head;
    this.#body = body;
    this.#wc = wc;
  }

  run(): Promise<void> {
    const done = new Promise<void>((resolve) => {
      this.#finish = resolve;
    });
    const timeoutMs = this.#f.action.timeoutMs;
    if (timeoutMs > 0) this.#routeTimer = this.#ctx.clock.setTimeout(this.#onRouteTimeout, timeoutMs);
    // The client going away ends everything (flag DC). Called by the request's own 'close' listener, just
    // before the record is written (a listener of ours would run after it).
    this.#f.record.onDownstreamClose = this.#onDownstreamClose;
    void this.#attempts();
    return done;
  }

  readonly #onRouteTimeout = (): void => {
    this.#timedOut = true;
    this.#f.record.addFlag('UT');
    const reason = new UpstreamError('WP_ERR_TIMEOUT', `no complete upstream response within the route timeout of ${this.#f.action.timeoutMs} ms`);
    this.#abortRoute(reason);
    if (this.#response !== undefined) {
      // Streaming already: the only honest signal left is a reset.
      this.#current?.reset();
      resetDownstream(this.#f.res, reason);
      this.#end();
    }
  };

  /** Gives the request up: the current attempt (or backoff) ends with `reason`, and no other starts. */
  #abortRoute(reason: Error): void {
    if (this.#routeAbortReason !== undefined) return;
    this.#routeAbortReason = reason;
    this.#abortAttempt(reason);
    this.#wake?.();
  }

  /** Ends the current attempt with `reason`, whether it waits for a connection or for a response head. */
  #abortAttempt(reason: Error): void {
    this.#attemptAbort?.abort(reason);
    this.#current?.cancel(reason);
  }

  readonly #onPerTryTimeout = (): void => {
    const perTryMs = this.#f.action.retry?.perTryTimeoutMs ?? 0;
    this.#abortAttempt(new UpstreamError('WP_ERR_TIMEOUT', `no response head from ${this.#attemptHost?.key ?? 'the upstream'} within the per-try timeout of ${perTryMs} ms`));
  };

  readonly #onDownstreamClose = (): void => {
    if (this.#done) return;
    // `writableEnded`, not `writableFinished`: an HTTP/2 response reset by the client reports itself
    // finished (its stream is destroyed) although `end()` was never called.
    if (!this.#f.res.writableEnded) {
      this.#f.record.addFlag('DC');
      this.#current?.reset();
      this.#abortRoute(new UpstreamError('WP_ERR_CLOSED', 'the client went away'));
    }
    this.#end();
  };

  #end(): void {
    if (this.#done) return;
    this.#done = true;
    this.#routeTimer?.cancel();
    // Ended with an attempt still holding its counts (the client left, the route timed out mid-stream):
    // the upstream exchange is abandoned and its counts given back.
    if (this.#inFlight !== undefined) {
      this.#current?.reset();
      this.#attemptDone();
    }
    this.#f.record.onDownstreamClose = undefined;
    this.#finish();
  }

  async #attempts(): Promise<void> {
    try {
      await this.#attemptsHoldingRetrySlot();
    } finally {
      this.#releaseRetrySlot();
    }
  }

  /** Whether this request holds one of the cluster's `maxRetries` retry slots (see `#retryDecision`). */
  #retrySlot = false;

  #releaseRetrySlot(): void {
    if (!this.#retrySlot) return;
    this.#retrySlot = false;
    this.#cluster.counters.retries--;
  }

  /**
   * Envoy's order: not covered by the policy (or the body cannot be replayed, or time is up) → no retry;
   * the policy's retries used up → `limit` (URX); the cluster's concurrent retries at `maxRetries` →
   * `overflow` (UO, as Envoy's router flags a retry refused by the circuit breaker). A retry takes a slot
   * from the decision until its own outcome is known (through the backoff), as Envoy's retry state does.
   */
  #retryDecision(outcome: AttemptOutcome, attempt: number): 'retry' | 'no' | 'limit' | 'overflow' {
    const retry = this.#f.action.retry;
    if (retry === undefined || this.#timedOut || !this.#body.replayable || !retriable(retry, outcome)) return 'no';
    if (attempt >= retry.numRetries) return 'limit';
    if (this.#cluster.counters.retries >= this.#cluster.config.circuitBreaker.maxRetries) return 'overflow';
    return 'retry';
  }

  async #attemptsHoldingRetrySlot(): Promise<void> {
    const record = this.#f.record;
    for (let attempt = 0; ; attempt++) {
      const host = this.#cluster.pick(this.#ctx.clock.now(), this.#f.hash, this.#f.destination);
      if (host === undefined) {
        this.#fail(503, 'no healthy upstream', 'UH', 'no_healthy_upstream');
        return;
      }
      record.upstream = host;
      const result = await this.#attempt(host);
      // The retried attempt's outcome is in: its slot is free again.
      this.#releaseRetrySlot();
      // Ended meanwhile (`#end` gave the attempt's counts back).
      if (this.#done) return;
      const outcome: AttemptOutcome = 'status' in result ? { kind: 'status', status: result.status } : result.outcome;
      recordOutcome(this.#cluster.config.outlierDetection, host, outcome, this.#cluster.hosts, this.#ctx.clock.now());
      const decision = this.#retryDecision(outcome, attempt);
      if (decision === 'limit') record.addFlag('URX');
      else if (decision === 'overflow') record.addFlag('UO');
      if ('status' in result) {
        if (decision !== 'retry') {
          this.#respond(result);
          return;
        }
        // A response we will not use: reset rather than read it (the connection is not reused).
        this.#current?.reset();
        this.#attemptDone();
      } else {
        this.#attemptDone();
        if (decision !== 'retry') {
          if (this.#timedOut) this.#fail(504, 'upstream request timeout', 'UT', 'upstream_response_timeout');
          else {
            const e = result.error;
            const status = e.code === 'WP_ERR_TIMEOUT' ? 504 : 503;
            const text = e.code === 'WP_ERR_TIMEOUT' ? 'upstream request timeout' : e.code === 'WP_ERR_OVERFLOW' ? 'upstream connect error or disconnect/reset before headers. reset reason: overflow' : `upstream connect error or disconnect/reset before headers. reset reason: ${e.message}`;
            this.#fail(status, text, e.flag, e.code.toLowerCase());
          }
          return;
        }
      }
      this.#retrySlot = true;
      this.#cluster.counters.retries++;
      const retry = this.#f.action.retry!;
      const base = retry.backoffBaseMs * 2 ** attempt;
      const delay = Math.floor(this.#ctx.random() * Math.min(retry.backoffMaxMs, base));
      if (delay > 0) await this.#sleep(delay);
      if (this.#done || this.#timedOut) {
        if (this.#timedOut && !this.#done) this.#fail(504, 'upstream request timeout', 'UT', 'upstream_response_timeout');
        return;
      }
    }
  }

  /** Waits `ms`, or less if the request is given up meanwhile. */
  #sleep(ms: number): Promise<void> {
    if (this.#routeAbortReason !== undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const t = this.#ctx.clock.setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = (): void => {
        this.#wake = undefined;
        t.cancel();
        resolve();
      };
    });
  }

  /** One attempt up to the response head. Never rejects. */
  async #attempt(host: Host): Promise<UpstreamResponse | AttemptFailure> {
    if (this.#routeAbortReason !== undefined) return failure(this.#routeAbortReason);
    const perTryMs = this.#f.action.retry?.perTryTimeoutMs ?? 0;
    let abort = this.#attemptAbort;
    if (abort === undefined || abort.aborted) this.#attemptAbort = abort = new LazyAbort();
    this.#attemptHost = host;
    const perTry = perTryMs > 0 ? this.#ctx.clock.setTimeout(this.#onPerTryTimeout, perTryMs) : undefined;
    this.#cluster.counters.requests++;
    host.active++;
    this.#inFlight = host;
    try {
      const ex = await startExchange(this.#cluster, host, this.#protocol, this.#head, abort);
      this.#current = ex;
      if (abort.aborted) {
        ex.reset();
        return failure(abort.reason);
      }
      this.#body.attach(ex.sink);
      // A timeout or the client leaving rejects this through `ex.cancel`.
      return await ex.response;
    } catch (err) {
      this.#body.detach();
      this.#current?.reset();
      return failure(err);
    } finally {
      perTry?.cancel();
    }
  }

  /** Gives back the current attempt's request and in-flight counts (once). */
  #attemptDone(): void {
    const host = this.#inFlight;
    if (host === undefined) return;
    this.#inFlight = undefined;
    this.#cluster.counters.requests--;
    host.active--;
    this.#current = undefined;
  }

  #fail(status: number, text: string, flag: string, details: string): void {
    localReply(this.#f.res, this.#f.record, status, text, flag, details);
    this.#end();
  }

  #respond(r: UpstreamResponse): void {
    const { res, record } = this.#f;
    this.#response = r;
    const headers = r.headers;
    if (!isEmptyMutation(this.#wc.responseHeaders)) applyMutation(headers, this.#wc.responseHeaders);
    if (!isEmptyMutation(this.#f.route.responseHeaders)) applyMutation(headers, this.#f.route.responseHeaders);
    if (!isEmptyMutation(this.#f.vhost.responseHeaders)) applyMutation(headers, this.#f.vhost.responseHeaders);
    record.status = r.status;
    const grpc = firstValue(headers, 'grpc-status');
    if (grpc !== undefined) record.grpcStatus = grpc;
    if (r.headOnly) {
      // Passed on as a head that ends the response, in one HTTP/2 HEADERS frame with END_STREAM for an
      // HTTP/2 client: gRPC clients read a trailers-only reply's status only from such a frame (a head
      // followed by an empty DATA frame is a protocol error to them). `end()` without `writeHead()` is
      // what makes Node's compatibility API send it that way.
      res.statusCode = r.status;
      for (const name in headers) res.setHeader(name, headers[name]!);
      this.#attemptDone();
      res.end();
      this.#end();
      return;
    }
    res.writeHead(r.status, headers);
    const body = r.body;
    // An HTTP/2 reply whose head carried END_STREAM (gRPC's trailers-only) has ended, and its stream
    // closed, before this runs: its 'end' will not come again.
    if (body.readableEnded) {
      this.#onBodyEnd();
      return;
    }
    body.on('data', this.#onBodyData);
    res.on('drain', this.#onResponseDrain);
    body.once('end', this.#onBodyEnd);
    body.once('error', this.#onBodyError);
  }

  /** The response body pump: each chunk to the client; the upstream paused while the client is behind. */
  readonly #onBodyData = (chunk: Buffer): void => {
    this.#f.record.bytesSent += chunk.length;
    if (!this.#f.res.write(chunk)) this.#response?.body.pause();
  };

  readonly #onResponseDrain = (): void => {
    this.#response?.body.resume();
  };

  #stopPump(): void {
    const r = this.#response;
    if (r !== undefined) r.body.off('data', this.#onBodyData);
    this.#f.res.off('drain', this.#onResponseDrain);
    this.#attemptDone();
  }

  readonly #onBodyEnd = (): void => {
    if (this.#done) return;
    const r = this.#response!;
    const { res, record } = this.#f;
    const h2 = r.body as Partial<ClientHttp2Stream>;
    if (typeof h2.rstCode === 'number' && h2.rstCode !== 0) {
      this.#stopPump();
      this.#broken('UR');
      return;
    }
    const trailers = forwardableTrailers(r.trailers());
    if (trailers !== undefined) {
      const g = firstValue(trailers, 'grpc-status');
      if (g !== undefined) record.grpcStatus = g;
      res.addTrailers(trailers);
    }
    this.#stopPump();
    res.end();
    this.#end();
  };

  readonly #onBodyError = (): void => {
    if (this.#done) return;
    this.#stopPump();
    this.#broken('UR');
  };

  /** The upstream broke after the head was passed on: reset the client's stream. */
  #broken(flag: string): void {
    this.#f.record.addFlag(flag);
    resetDownstream(this.#f.res, new UpstreamError('WP_ERR_RESET', 'the upstream broke off the response'));
    this.#end();
  }
}

function failure(err: unknown): AttemptFailure {
  const error = err instanceof UpstreamError ? err : new UpstreamError('WP_ERR_RESET', err instanceof Error ? err.message : String(err), { cause: err });
  const outcome: AttemptOutcome =
    error.code === 'WP_ERR_CONNECT'
      ? { kind: 'connect-failure' }
      : error.code === 'WP_ERR_TIMEOUT'
        ? { kind: 'timeout' }
        : error.code === 'WP_ERR_OVERFLOW'
          ? { kind: 'overflow' }
          : { kind: 'reset' };
  return { outcome, error };
}

/** Reads and drops a request body we will not forward (so that the connection stays usable). */
export function drain(src: BodySource): void {
  src.resume();
}

/** A mirrored copy: fire and forget, bounded by the mirror cluster's own circuit breaker. */
function mirror(ctx: ProxyContext, clusterName: string, head: RequestHead, downstream: 'http1' | 'http2', body: RequestBody, hash: number | undefined, destination: Destination): void {
  const cluster = ctx.clusters.get(clusterName);
  if (cluster === undefined || cluster.counters.requests >= cluster.config.circuitBreaker.maxRequests) return;
  const host = cluster.pick(ctx.clock.now(), hash, destination);
  if (host === undefined) return;
  const protocol = cluster.config.protocol === 'downstream' ? downstream : cluster.config.protocol;
  cluster.counters.requests++;
  host.active++;
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    cluster.counters.requests--;
    host.active--;
  };
  startExchange(cluster, host, protocol, head, new LazyAbort()).then(
    (ex) => {
      if (!body.mirror(ex.sink)) {
        ex.reset();
        release();
        return;
      }
      ex.response.then(
        (r) => {
          r.body.once('close', release);
          r.body.once('end', release);
          r.body.resume();
        },
        (err: unknown) => {
          release();
          ctx.logger.debug({ err, cluster: clusterName }, 'mirror request failed');
        },
      );
    },
    (err: unknown) => {
      release();
      ctx.logger.debug({ err, cluster: clusterName }, 'mirror request could not start');
    },
  );
}

