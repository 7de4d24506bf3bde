/**
 * Scene: a request from sleep to httpbin on the other node, hop by hop, with the identity proven on each:
 * captured on node-a by its ztunnel, carried in HBONE (HTTP/2 CONNECT in mutual TLS) to node-b's ztunnel,
 * delivered to httpbin from sleep's own address. The evidence: both ztunnels' access-log lines for that one
 * connection and what the httpbin server saw.
 */
import { accessLine, accessLineFrom } from './access-lines.js';
import { expectEqual } from './errors.js';
import { castMember, type Scene } from './scene.js';

export const requestScene: Scene = {
  title: 'A request across nodes: pod → ztunnel → HBONE → ztunnel → pod',
  async run(ctx) {
    const { mesh, out } = ctx;
    const sleep = castMember(ctx, 'sleep');
    const httpbin = castMember(ctx, 'httpbin');
    const url = `http://${httpbin.ip}:8080/get`;
    out(`${sleep.app} (${sleep.node}) runs: GET ${url}   (${httpbin.app} on ${httpbin.node})`);
    const r = await mesh.cluster.httpGet(sleep.pod, url);
    expectEqual('the answer to sleep', r.status, 200);
    // The destination ztunnel connects from the client's address with a port of its own: the connection is
    // found by the client's address and the destination, then followed by its source port across nodes.
    const outbound = await accessLineFrom(mesh, sleep.node, 'outbound', sleep.ip, (l) => l['dst.addr'] === `${httpbin.ip}:8080`);
    const client = String(outbound['src.addr']);
    const inbound = await accessLine(mesh, httpbin.node, 'inbound', client);
    expectEqual(`${sleep.node}'s outbound src.identity`, outbound['src.identity'], sleep.identity);
    expectEqual(`${sleep.node}'s outbound dst.identity`, outbound['dst.identity'], httpbin.identity);
    expectEqual(`${httpbin.node}'s inbound src.identity`, inbound['src.identity'], sleep.identity);
    expectEqual(`${httpbin.node}'s inbound dst.identity`, inbound['dst.identity'], httpbin.identity);
    expectEqual('the address httpbin saw', r.body.remoteAddress, sleep.ip);

    out();
    out(`hop 1  ${sleep.pod} ${client}`);
    out(`         └─▶ captured on ${sleep.node} (nftables TPROXY) by its ztunnel, which knows the pod by its address:`);
    out(`             workload ${String(outbound['src.namespace'])}/${String(outbound['src.workload'])}, so it speaks as ${sleep.identity}`);
    out(`hop 2  ztunnel ${sleep.node} ══ HBONE: HTTP/2 CONNECT ${String(outbound['dst.addr'])} to ${String(outbound['dst.hbone_addr'])}, mutual TLS ══▶ ztunnel ${httpbin.node}`);
    out(`         ${sleep.node} proved  ${String(inbound['src.identity'])}   (${httpbin.node}'s access log, src.identity)`);
    out(`         ${httpbin.node} proved  ${String(outbound['dst.identity'])} (${sleep.node}'s access log, dst.identity)`);
    out(`hop 3  ztunnel ${httpbin.node} ──▶ ${httpbin.pod} ${httpbin.ip}:8080, connecting from the client's own address`);
    out(`         httpbin answered ${r.status} and saw the request come from ${r.body.remoteAddress}: sleep's address, not a proxy's`);
    out(`         bytes: ${String(outbound['bytes_sent'])} sent, ${String(outbound['bytes_recv'])} received (${sleep.node}'s access log)`);
  },
};
