/**
 * The xDS benchmark's client, as its own process (`node --expose-gc client-main.js`), so that its heap
 * is measured alone and its CPU is not the control plane's.
 *
 * It keeps what ztunnel keeps: every decoded Address and Authorization in a Map by resource name. It
 * measures a baseline heap once the codecs are loaded, connects when told, reports the first full sync and
 * every applied version of the churn pod, and reports the heap on request. It exits when the harness goes
 * away (IPC disconnect), so a crashed harness leaves nothing behind, and on SIGTERM.
 */
import {
  ADDRESS_TYPE_URL,
  AUTHORIZATION_TYPE_URL,
  addressCodec,
  authorizationCodec,
  type Address,
  type Authorization,
} from '@ambit/protos';
import { XdsClient, codecResourceType, type ResourceBatch } from '@ambit/xds';
import { Registry } from 'prom-client';
import { isClientCommand, preciseNow, type ClientMessage, type ConnectCommand, type HeapReading } from './messages.js';

const gc = (globalThis as { gc?: () => void }).gc;

function send(message: ClientMessage): void {
  process.send?.(message);
}

function heap(): HeapReading {
  if (!gc) throw new Error('run with --expose-gc');
  // Twice: the first pass can leave finalizer-held objects for the second.
  gc();
  gc();
  const usage = process.memoryUsage();
  return { heapUsed: usage.heapUsed, arrayBuffers: usage.arrayBuffers };
}

function formatIp(bytes: Uint8Array | undefined): string {
  if (!bytes) return '';
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i + 1 < bytes.length; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return groups.join(':');
}

/** The store ztunnel would keep, applied batch by batch. */
class Store<T> {
  readonly byName = new Map<string, T>();

  apply(batch: ResourceBatch<T>): void {
    for (const u of batch.upserts) this.byName.set(u.name, u.resource);
    for (const name of batch.removals) this.byName.delete(name);
  }
}

let client: XdsClient | undefined;
const addresses = new Store<Address>();
const authorizations = new Store<Authorization>();

async function messageBytes(registry: Registry): Promise<{ bytes: number; responses: number }> {
  const sum = async (name: string): Promise<number> => {
    const metric = registry.getSingleMetric(name);
    if (!metric) return 0;
    return (await metric.get()).values.reduce((total, v) => total + v.value, 0);
  };
  return { bytes: await sum('istio_xds_message_bytes_total'), responses: await sum('istio_xds_message_total') };
}

function connect(command: ConnectCommand): void {
  const registry = new Registry();
  const xds = new XdsClient({
    target: command.target,
    node: {
      id: 'ztunnel~10.64.0.250~ztunnel-bench.istio-system~istio-system.svc.cluster.local',
      metadata: { NAME: 'ztunnel-bench', NAMESPACE: 'istio-system', INSTANCE_IPS: '10.64.0.250', NODE_NAME: 'node-0' },
    },
    tls: { rootCa: command.rootCertPem, serverName: command.serverName },
    registry,
  });
  client = xds;
  const churnUid = command.churnUid;
  xds.addType(codecResourceType(addressCodec()), (batch) => {
    addresses.apply(batch);
    for (const u of batch.upserts) {
      if (u.name !== churnUid) continue;
      const workload = u.resource.workload;
      send({ type: 'churn', at: preciseNow(), ip: formatIp(workload?.addresses?.[0]), revision: workload?.canonical_revision ?? '' });
    }
  });
  xds.addType(codecResourceType(authorizationCodec()), (batch) => authorizations.apply(batch));
  const acked = new Set<string>();
  let synced = false;
  xds.on('ack', ({ typeUrl }) => {
    acked.add(typeUrl);
    if (synced || acked.size < 2) return;
    synced = true;
    const at = preciseNow();
    let workloads = 0;
    for (const a of addresses.byName.values()) if (a.workload) workloads++;
    void messageBytes(registry).then(({ bytes, responses }) =>
      send({ type: 'synced', at, workloads, services: addresses.byName.size - workloads, authorizations: authorizations.byName.size, bytes, responses }),
    );
  });
  xds.on('nack', (event) => send({ type: 'failed', reason: `the client NACKed a response: ${event.error}` }));
  xds.subscribe(ADDRESS_TYPE_URL);
  xds.subscribe(AUTHORIZATION_TYPE_URL);
  xds.start();
}

process.on('message', (message: unknown) => {
  if (!isClientCommand(message)) return;
  try {
    if (message.type === 'connect') connect(message);
    else send({ type: 'heap', heap: heap() });
  } catch (err) {
    send({ type: 'failed', reason: err instanceof Error ? err.message : String(err) });
    process.exitCode = 1;
  }
});
/** Closes the client and exits normally, so that `--cpu-prof` can write its profile. */
function exitCleanly(): void {
  void client?.close().finally(() => process.exit());
  if (!client) process.exit();
}
process.on('disconnect', exitCleanly);
// The harness stops its children with SIGTERM; dying of it would lose a CPU profile.
process.on('SIGTERM', exitCleanly);

// Load the codecs (and protobufjs's reflection) before the baseline: a fixed cost, not per workload.
addressCodec();
authorizationCodec();
send({ type: 'baseline', heap: heap() });
