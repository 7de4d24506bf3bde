/** Starting servers and clients that are always cleaned up, whatever the test does. */
import type { ExecutionContext } from 'ava';
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL, type Address, type Authorization } from '@ambit/protos';
import { XdsClient, type XdsClientOptions } from '../../src/index.js';
import { TestAdsServer, type TestServerTls } from './ads-server.js';
import { addressType, authorizationType, RecordingHandler, silent } from './fixtures.js';

export const ADDR = ADDRESS_TYPE_URL;
export const AUTHZ = AUTHORIZATION_TYPE_URL;
export const NODE_ID = 'ztunnel~10.0.0.5~ztunnel-abc.istio-system~istio-system.svc.cluster.local';

export async function startServer(t: ExecutionContext, tls?: TestServerTls): Promise<TestAdsServer> {
  const server = new TestAdsServer(tls);
  await server.start();
  t.teardown(() => server.stop());
  return server;
}

export function makeClient(t: ExecutionContext, target: string, options: Partial<XdsClientOptions> = {}): XdsClient {
  const client = new XdsClient({
    target,
    node: {
      id: NODE_ID,
      metadata: { NAME: 'ztunnel-abc', NAMESPACE: 'istio-system', INSTANCE_IPS: '10.0.0.5', NODE_NAME: 'node-1' },
    },
    logger: silent,
    ...options,
  });
  t.teardown(() => client.close());
  return client;
}

/** A client with Address and Authorization registered (wildcard), recording handlers, not yet started. */
export function meshClient(t: ExecutionContext, target: string, options: Partial<XdsClientOptions> = {}) {
  const client = makeClient(t, target, options);
  const addresses = new RecordingHandler<Address>();
  const policies = new RecordingHandler<Authorization>();
  client.addType(addressType(), addresses.handle).addType(authorizationType(), policies.handle);
  client.subscribe(ADDR);
  client.subscribe(AUTHZ);
  return { client, addresses, policies };
}

/** Whether every registered type has been ACKed or NACKed at least once. */
export function bothSettled(client: XdsClient): boolean {
  return client.status().types.every((s) => s.lastAck !== undefined || s.lastNack !== undefined);
}
