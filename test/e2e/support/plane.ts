/**
 * The control plane as `main.ts` assembles it, in this process: a MeshModel over a directory of YAML
 * (watched), served by ControlPlane.start (delta xDS and the CA over TLS, admin HTTP), on loopback ports.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { ExecutionContext } from 'ava';
import { ControlPlane, MeshModel, parseConfig } from '@ambit/control-plane';
import { pino } from 'pino';
import type { MeshDir } from './mesh-dir.js';

export interface InProcessPlane {
  readonly plane: ControlPlane;
  readonly model: MeshModel;
  readonly stateDir: string;
  readonly rootPem: string;
  /** The control plane's log lines, parsed. */
  readonly lines: Record<string, unknown>[];
  configDump(): Promise<ConfigDump>;
}

/** The parts of /debug/config_dump the tests read. */
export interface ConfigDump {
  snapshot: { version: number; diagnostics: Diagnostic[] };
  addresses: { name: string; version: string; resource: Record<string, unknown> }[];
  authorizations: { name: string; resource: Record<string, unknown> }[];
  nodes: Record<string, string[]>;
  clients: { node: { id: string }; types: { typeUrl: string; held: number; lastAck?: unknown; lastNack?: unknown }[] }[];
}

export interface Diagnostic {
  file: string;
  document: number;
  path: string;
  message: string;
  severity: 'error' | 'warning';
  line?: number;
}

export async function startPlane(t: ExecutionContext, dir: MeshDir): Promise<InProcessPlane> {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString('utf8').split('\n')) if (text) lines.push(JSON.parse(text) as Record<string, unknown>);
      done();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  const model = await MeshModel.load(dir.config, { debounceMs: 20, logger });
  t.teardown(() => model.destroy());
  await model.watch();
  const stateDir = path.join(dir.root, 'state');
  const config = parseConfig(['--config', dir.config, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', stateDir]);
  const plane = await ControlPlane.start({ config, source: model, logger });
  t.teardown(() => plane.destroy());
  const rootPem = await readFile(path.join(stateDir, 'root-cert.pem'), 'utf8');
  return { plane, model, stateDir, rootPem, lines, configDump: () => getJson(plane.adminAddress, '/debug/config_dump') as Promise<ConfigDump> };
}

/** GET `pathname` from an admin address (`host:port`) and parse the JSON body. */
export function getJson(address: string, pathname: string): Promise<unknown> {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: pathname, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`GET ${pathname}: ${res.statusCode} ${body}`));
          else resolve(JSON.parse(body));
        });
      })
      .on('error', reject);
  });
}
