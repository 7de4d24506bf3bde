/**
 * Scene: Istio's TCP metrics on httpbin's node (`:15020/metrics`, as Prometheus would scrape them), the
 * series of the two connections above: one allowed over mutual TLS, one denied. Each line is printed with
 * the labels that tell the story; the full series carry about twenty.
 */
import { DemoError } from './errors.js';
import { castMember, type Scene } from './scene.js';

const SHOWN_LABELS = ['reporter', 'source_workload', 'destination_workload', 'response_flags', 'connection_security_policy'];

/** `name{a="1",b="2"} 3` → its name, labels and value. */
function parseSample(line: string): { name: string; labels: Map<string, string>; value: string } | undefined {
  const m = /^([a-z_]+)\{(.*)\} (\S+)$/.exec(line);
  if (!m) return undefined;
  const labels = new Map<string, string>();
  for (const l of m[2]!.matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)) labels.set(l[1]!, l[2]!);
  return { name: m[1]!, labels, value: m[3]! };
}

export const metricsScene: Scene = {
  title: 'The metrics: istio_tcp_* on the destination ztunnel',
  async run(ctx) {
    const { mesh, out } = ctx;
    const httpbin = castMember(ctx, 'httpbin');
    const sleep = castMember(ctx, 'sleep');
    const notsleep = castMember(ctx, 'notsleep');
    const metrics = await mesh.httpGet(httpbin.node, 15020, '/metrics');
    if (metrics.status !== 200) throw new DemoError('DEMO_ERR_SCENE', `${httpbin.node}'s /metrics answered ${metrics.status}`);
    const samples = metrics.body
      .split('\n')
      .filter((l) => l.startsWith('istio_tcp_'))
      .map(parseSample)
      .filter((s) => s !== undefined)
      .filter((s) => s.labels.get('reporter') === 'destination');
    // By identity: the workload label is derived (a Deployment's name), the principal is what was proven.
    const from = (w: { identity: string }): typeof samples => samples.filter((s) => s.labels.get('source_principal') === w.identity);
    const allowed = from(sleep).find((s) => s.name === 'istio_tcp_connections_opened_total' && s.labels.get('connection_security_policy') === 'mutual_tls');
    const denied = from(notsleep).find((s) => s.name === 'istio_tcp_connections_closed_total' && s.labels.get('response_flags') === 'DENY');
    if (!allowed || !denied) {
      throw new DemoError('DEMO_ERR_SCENE', `${httpbin.node}'s metrics lack the allowed or the denied connection:\n${metrics.body.split('\n').filter((l) => l.startsWith('istio_tcp_')).join('\n')}`);
    }
    out(`curl ${httpbin.node}:15020/metrics | grep istio_tcp_   (labels trimmed to ${SHOWN_LABELS.length} of ${allowed.labels.size})`);
    for (const s of [...from(sleep), ...from(notsleep)]) {
      const labels = SHOWN_LABELS.map((k) => `${k}="${s.labels.get(k) ?? ''}"`).join(',');
      out(`${s.name}{${labels}} ${s.value}`);
    }
  },
};
