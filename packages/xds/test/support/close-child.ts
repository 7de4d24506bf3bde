/**
 * Run as a child process by close.test.ts: connects (or fails to), closes the client, and must then exit
 * on its own. If close() left a socket, timer or stream behind, the process would stay alive.
 * argv: <target> <wait-for: ack | disconnected | nothing>
 */
import { XdsClient } from '../../src/index.js';
import { addressType, silent, waitFor } from './fixtures.js';

const [target, until] = process.argv.slice(2);
const client = new XdsClient({ target: target!, node: { id: 'child' }, logger: silent });
client.addType(addressType(), () => {});
client.subscribe('type.googleapis.com/istio.workload.Address');
if (until !== 'nothing') {
  client.start();
  await waitFor(client, until!);
}
await client.close();
process.stdout.write(`closed ${client.status().connected}\n`);
