/**
 * The real xDS client (`@ambit/xds`) subscribed to both ztunnel types, with the Istio codecs, keeping the
 * state the way ztunnel does and recording every batch its handlers were given, every ACK/NACK and its
 * own debug log (which says what each response carried).
 */
import { Writable } from 'node:stream';
import type { ExecutionContext } from 'ava';
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL, addressCodec, authorizationCodec, type Address, type Authorization } from '@ambit/protos';
import { XdsClient, codecResourceType, type AckEvent, type NackEvent, type ResourceBatch, type XdsClientOptions } from '@ambit/xds';
import { pino } from 'pino';
import { Registry } from 'prom-client';

export const SERVER_NAME = 'istiod.istio-system.svc';

export class Recorded<T> {
  readonly batches: ResourceBatch<T>[] = [];
  readonly state = new Map<string, T>();

  readonly handle = (batch: ResourceBatch<T>): void => {
    this.batches.push(batch);
    for (const u of batch.upserts) this.state.set(u.name, u.resource);
    for (const name of batch.removals) this.state.delete(name);
  };

  get upserts(): number {
    return this.batches.reduce((n, b) => n + b.upserts.length, 0);
  }

  get removals(): string[] {
    return this.batches.flatMap((b) => [...b.removals]);
  }

  names(): string[] {
    return [...this.state.keys()].sort();
  }
}

export interface RecordingClient {
  readonly client: XdsClient;
  readonly addresses: Recorded<Address>;
  readonly policies: Recorded<Authorization>;
  readonly acks: AckEvent[];
  readonly nacks: NackEvent[];
  /** The client's log lines (debug and up), parsed. */
  readonly lines: Record<string, unknown>[];
  readonly registry: Registry;
  /** Resolves when `condition` holds, checking after every batch, ACK and NACK. */
  until(condition: () => boolean, what: string, timeoutMs?: number): Promise<void>;
}

/** A started client to `target` trusting `rootCertPem`, closed when the test ends. */
export function recordingClient(t: ExecutionContext, target: string, rootCertPem: string, options: Partial<XdsClientOptions> = {}): RecordingClient {
  const lines: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const w of [...waiters]) w();
  };
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString('utf8').split('\n')) if (text) lines.push(JSON.parse(text) as Record<string, unknown>);
      done();
    },
  });
  const registry = new Registry();
  const client = new XdsClient({
    target,
    node: {
      id: 'ztunnel~10.244.1.2~ztunnel-e2e.istio-system~istio-system.svc.cluster.local',
      metadata: { NAME: 'ztunnel-e2e', NAMESPACE: 'istio-system', INSTANCE_IPS: '10.244.1.2', NODE_NAME: 'node-a' },
    },
    tls: { rootCa: rootCertPem, serverName: SERVER_NAME },
    logger: pino({ level: 'debug' }, sink),
    registry,
    ...options,
  });
  t.teardown(() => client.close());
  const addresses = new Recorded<Address>();
  const policies = new Recorded<Authorization>();
  const acks: AckEvent[] = [];
  const nacks: NackEvent[] = [];
  client.addType(codecResourceType(addressCodec()), (b) => {
    addresses.handle(b);
    wake();
  });
  client.addType(codecResourceType(authorizationCodec()), (b) => {
    policies.handle(b);
    wake();
  });
  client.on('ack', (e) => {
    acks.push(e);
    wake();
  });
  client.on('nack', (e) => {
    nacks.push(e);
    wake();
  });
  client.on('connected', wake);
  client.on('disconnected', wake);
  client.subscribe(ADDRESS_TYPE_URL);
  client.subscribe(AUTHORIZATION_TYPE_URL);
  client.start();
  return {
    client,
    addresses,
    policies,
    acks,
    nacks,
    lines,
    registry,
    until(condition, what, timeoutMs = 20_000) {
      if (condition()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        // A guard against a hang, not a timing assertion.
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${what}`));
        }, timeoutMs);
        const check = (): void => {
          if (!condition()) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
      });
    },
  };
}

/** The `delta response` debug lines of the client: what each response carried. */
export function deltaResponses(lines: readonly Record<string, unknown>[]): { type_url: string; resources: number; removed: number }[] {
  return lines
    .filter((l) => l['msg'] === 'delta response')
    .map((l) => ({ type_url: String(l['type_url']), resources: Number(l['resources']), removed: Number(l['removed']) }));
}

export { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL };
