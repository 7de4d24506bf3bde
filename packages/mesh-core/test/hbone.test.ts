import test from 'ava';
import { backend, clientId, readAll, serverId, startClient, startServer } from './helpers/mesh.js';

test('a tunnel carries bytes to the target and back (echo round trip)', async (t) => {
  const echo = await backend(t);
  const { addr } = await startServer(t);
  const client = await startClient(t);
  const tunnel = await client.connect({
    source: clientId,
    destination: addr,
    expectedIdentities: [serverId],
    authority: `127.0.0.1:${echo.port}`,
  });
  const payload = Buffer.alloc(256 * 1024, 7);
  tunnel.end(payload);
  const back = await readAll(tunnel);
  t.true(back.equals(payload));
});
