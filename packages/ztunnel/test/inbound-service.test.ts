/**
 * The service an inbound connection is counted under (`proxy/inbound-service.ts`): the one the client named
 * in `forwarded` host= when it selects the pod, else the one whose target port (its own, or the pod's for a
 * named port) the connection came in on, the lowest key winning; else none. Snapshots go through the real
 * decoders and store.
 */
import test from 'ava';
import { inboundService } from '../src/proxy/inbound-service.js';
import type { Workload } from '../src/state/model.js';
import type { ProxySnapshot } from '../src/state/snapshot.js';
import { snapshotOf } from './fixtures/mesh.js';
import { serviceKey, serviceResource, workloadResource } from './fixtures/resources.js';

const HOST = (name: string, ns = 'shop'): string => `${name}.${ns}.svc.cluster.local`;

/**
 * web-1 (10.0.0.5) is selected by `canary` (80 → 8080), `web` (80 → 8080), `admin` (9000 → a named port,
 * 9090 on this pod) and `gone` (not pushed). `other` selects another pod.
 */
function fixture(): { snapshot: ProxySnapshot; pod: Workload } {
  const snapshot = snapshotOf([
    workloadResource('web-1', {
      ns: 'shop',
      ips: ['10.0.0.5'],
      services: {
        [serviceKey('web', 'shop')]: [[80, 8080]],
        [serviceKey('canary', 'shop')]: [[80, 8080]],
        [serviceKey('admin', 'shop')]: [[9000, 9090]],
        [serviceKey('gone', 'shop')]: [[70, 7070]],
      },
    }),
    workloadResource('api-1', { ns: 'shop', ips: ['10.0.0.6'], services: { [serviceKey('other', 'shop')]: [[80, 8080]] } }),
    serviceResource('web', ['10.96.0.10'], 'shop', { ports: [{ service_port: 80, target_port: 8080 }] }),
    serviceResource('canary', ['10.96.0.11'], 'shop', { ports: [{ service_port: 80, target_port: 8080 }] }),
    serviceResource('admin', ['10.96.0.12'], 'shop', { ports: [{ service_port: 9000, target_port: 0 }] }),
    serviceResource('other', ['10.96.0.13'], 'shop', { ports: [{ service_port: 80, target_port: 8080 }] }),
  ]);
  return { snapshot, pod: snapshot.findWorkloadByIp('10.0.0.5')! };
}

test('the service named in forwarded host= wins when it selects the pod', (t) => {
  const { snapshot, pod } = fixture();
  // The guess alone would say `canary` (the lower key); the client dialled web's VIP.
  t.is(inboundService(snapshot, pod, 8080, HOST('web'))?.key, serviceKey('web', 'shop'));
  t.is(inboundService(snapshot, pod, 8080, HOST('canary'))?.key, serviceKey('canary', 'shop'));
  // Named, it counts even on a port that service does not target (the client knows what it dialled).
  t.is(inboundService(snapshot, pod, 9090, HOST('web'))?.key, serviceKey('web', 'shop'));
});

test('a forwarded host that does not select the pod, or is not known, is not believed: the port decides', (t) => {
  const { snapshot, pod } = fixture();
  t.is(inboundService(snapshot, pod, 8080, HOST('other'))?.key, serviceKey('canary', 'shop'), 'selects another pod');
  t.is(inboundService(snapshot, pod, 8080, 'evil.example.com')?.key, serviceKey('canary', 'shop'));
  t.is(inboundService(snapshot, pod, 8080, HOST('gone'))?.hostname, HOST('canary'), 'selects the pod but is not in the snapshot');
});

test('without a name: the service targeting the port, by its own target port or by the pod\'s port map for a named port', (t) => {
  const { snapshot, pod } = fixture();
  // Two services target 8080: the lowest namespace/hostname, whatever the order the pod lists them in.
  t.is(inboundService(snapshot, pod, 8080, undefined)?.hostname, HOST('canary'));
  t.is(inboundService(snapshot, pod, 9090, undefined)?.hostname, HOST('admin'), 'named target port: 9000 → 9090 on this pod');
});

test('no service for the port, a selecting service not pushed yet, or a pod without services: none', (t) => {
  const { snapshot, pod } = fixture();
  t.is(inboundService(snapshot, pod, 9999, undefined), undefined);
  t.is(inboundService(snapshot, pod, 7070, undefined), undefined, '`gone` is not in the snapshot');
  t.is(inboundService(snapshot, pod, 9000, undefined), undefined, 'the service port is not a target port');
  const lone = snapshotOf([workloadResource('lone', { ns: 'shop', ips: ['10.0.0.7'] })]);
  t.is(inboundService(lone, lone.findWorkloadByIp('10.0.0.7')!, 8080, HOST('web')), undefined);
});
