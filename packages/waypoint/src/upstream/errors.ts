import { MeshError } from '@ambit/mesh-core/errors';

/**
 * Envoy's response flags as the waypoint uses them (access log `response_flags`, metric label):
 * `UH` no healthy upstream, `UF` upstream connection failure, `UO` overflow (circuit breaker), `NR` no
 * route, `NC` no cluster, `URX` retry limit reached, `UT` upstream request timeout, `UC` upstream
 * connection termination, `UR` upstream reset, `DC` downstream connection termination, `FI` fault abort,
 * `DI` fault delay, `DPE` downstream protocol error, `UPE` upstream protocol error, `-` none.
 */
export type ResponseFlag = '-' | 'UH' | 'UF' | 'UO' | 'NR' | 'NC' | 'URX' | 'UT' | 'UC' | 'UR' | 'DC' | 'FI' | 'DI' | 'DPE' | 'UPE';

/**
 * Stable codes of upstream failures, each reported under one flag:
 * - `WP_ERR_NO_CLUSTER` (NC): the route names a cluster the snapshot does not hold.
 * - `WP_ERR_NO_HEALTHY_UPSTREAM` (UH): no endpoint is healthy and not ejected.
 * - `WP_ERR_OVERFLOW` (UO): a circuit breaker threshold was reached.
 * - `WP_ERR_CONNECT` (UF): the tunnel or TCP connection to the endpoint failed.
 * - `WP_ERR_RESET` (UR): the upstream reset or closed the exchange before a complete response.
 * - `WP_ERR_PROTOCOL` (UPE): the upstream sent something that is not valid HTTP.
 * - `WP_ERR_TIMEOUT` (UT): the per-try or route timeout passed.
 * - `WP_ERR_CLOSED`: the cluster manager was closed.
 */
export type UpstreamErrorCode =
  | 'WP_ERR_NO_CLUSTER'
  | 'WP_ERR_NO_HEALTHY_UPSTREAM'
  | 'WP_ERR_OVERFLOW'
  | 'WP_ERR_CONNECT'
  | 'WP_ERR_RESET'
  | 'WP_ERR_PROTOCOL'
  | 'WP_ERR_TIMEOUT'
  | 'WP_ERR_CLOSED';

const FLAGS: Record<UpstreamErrorCode, ResponseFlag> = {
  WP_ERR_NO_CLUSTER: 'NC',
  WP_ERR_NO_HEALTHY_UPSTREAM: 'UH',
  WP_ERR_OVERFLOW: 'UO',
  WP_ERR_CONNECT: 'UF',
  WP_ERR_RESET: 'UR',
  WP_ERR_PROTOCOL: 'UPE',
  WP_ERR_TIMEOUT: 'UT',
  WP_ERR_CLOSED: 'UC',
};

export class UpstreamError extends MeshError {
  declare readonly code: UpstreamErrorCode;

  constructor(code: UpstreamErrorCode, reason: string, options?: { cause?: unknown }) {
    super(code, reason, options);
  }

  get flag(): ResponseFlag {
    return FLAGS[this.code];
  }
}
