/**
 * Which service an inbound connection was for, for telemetry (`destination_service*`, `dst.service`). The
 * tunnel is addressed to the pod (`podIP:targetPort`), so the destination ztunnel decides the way istio's
 * does (`guess_inbound_service` in `src/proxy.rs`), among the services that select the pod:
 *
 * 1. the one the client named: the `host=` of the HBONE `forwarded` header, which a source ztunnel sends
 *    when its client dialled a service VIP. Only a service selecting this pod is taken, so a client cannot
 *    make the metrics name an arbitrary service;
 * 2. else a guess: a service that sends its traffic to the port the connection came in on, through its own
 *    target port or, for a named target port, through this pod's port map. When several do, ztunnel takes
 *    whichever it finds first; here the lowest `namespace/hostname` wins, so a label does not depend on the
 *    order of an xDS push;
 * 3. else none (`unknown`): e.g. a port no service targets.
 *
 * Cost: a few map look-ups per accepted connection, nothing allocated.
 */
import type { ProxySnapshot } from '../state/snapshot.js';
import type { Service, Workload } from '../state/model.js';

/** The service a connection to `workload` on `port` was for (see the module comment); undefined when none. */
export function inboundService(snapshot: ProxySnapshot, workload: Workload, port: number, forwardedHost: string | undefined): Service | undefined {
  if (forwardedHost !== undefined) {
    for (const key of workload.services.keys()) {
      const service = snapshot.findService(key);
      if (service?.hostname === forwardedHost) return service;
    }
  }
  let best: Service | undefined;
  for (const [key, portMap] of workload.services) {
    if (best !== undefined && key >= best.key) continue;
    const service = snapshot.findService(key);
    if (service !== undefined && targetsPort(service, portMap, port)) best = service;
  }
  return best;
}

/** Whether one of `service`'s ports sends to `port` on the workload whose port map (service → target) is `portMap`. */
function targetsPort(service: Service, portMap: ReadonlyMap<number, number>, port: number): boolean {
  for (const p of service.ports) {
    if (p.targetPort === port || portMap.get(p.servicePort) === port) return true;
  }
  return false;
}
