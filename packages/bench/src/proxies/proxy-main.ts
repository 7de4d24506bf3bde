/**
 * Entry point of a proxy child process: `node proxy-main.js '<ProxyConfig JSON>'`. Builds the proxy the
 * config names, listens, reports `{type: 'ready', port}` over IPC, and runs until the harness stops it or
 * goes away (IPC disconnect), so that a crashed harness never leaves proxies behind.
 */
import { createLogger } from '@ambit/mesh-core/telemetry';
import type { ProxyConfig, ReadyMessage } from './config.js';
import { Identity } from '@ambit/mesh-core/identity';
import { HboneClientProxy, createHboneServerProxy, readWorkloadCertificate } from './hbone-proxy.js';
import { TlsRelayClient, TlsRelayServer, readTlsMaterial } from './tls-relay.js';

interface RunningProxy {
  destroy(): void;
}

async function start(config: ProxyConfig): Promise<{ proxy: RunningProxy; port: number }> {
  // Only warnings and errors: anything per connection would be measured as proxy cost.
  const logger = createLogger({ level: process.env['LOG_LEVEL'] ?? 'warn' }).child({ component: config.kind });
  switch (config.kind) {
    case 'tls-client':
    case 'tls-server': {
      const options = {
        listen: config.listen,
        upstream: config.upstream,
        tls: await readTlsMaterial(config.tls),
        peerIdentity: config.peerIdentity,
        logger,
      };
      const relay = config.kind === 'tls-client' ? new TlsRelayClient(options) : new TlsRelayServer(options);
      const { port } = await relay.listen();
      return { proxy: relay, port };
    }
    case 'hbone-client': {
      const proxy = new HboneClientProxy({
        listen: config.listen,
        hbone: config.hbone,
        target: config.target,
        certificate: await readWorkloadCertificate(config.tls),
        peerIdentity: Identity.parse(config.peerIdentity),
        logger,
      });
      const { port } = await proxy.listen();
      return { proxy, port };
    }
    case 'hbone-server': {
      const server = createHboneServerProxy({
        listen: config.listen,
        upstream: config.upstream,
        certificate: await readWorkloadCertificate(config.tls),
        logger,
      });
      const { port } = await server.listen(config.listen.port, config.listen.host);
      return { proxy: server, port };
    }
  }
}

async function main(): Promise<void> {
  const arg = process.argv[2];
  if (!arg || !process.send) throw new Error('proxy-main must be started by the bench harness with a config argument and an IPC channel');
  const { proxy, port } = await start(JSON.parse(arg) as ProxyConfig);
  process.once('disconnect', () => {
    proxy.destroy();
    process.exit(0);
  });
  const ready: ReadyMessage = { type: 'ready', port };
  process.send(ready);
}

main().catch((err: unknown) => {
  process.stderr.write(`proxy failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
