/**
 * Raw clients for poking the HBONE server with what our own client never sends: wrong TLS versions, other
 * ALPN, missing certificates, malformed HTTP/2 requests.
 */
import { connect as h2connect, type OutgoingHttpHeaders } from 'node:http2';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { WorkloadCertificate } from '../../src/identity/index.js';

/** TLS options of a well-behaved mesh client presenting `cert`, trusting its roots, not checking the server name. */
export function meshClientTls(cert: WorkloadCertificate): ConnectionOptions {
  return {
    key: cert.privateKeyPem,
    cert: [cert.certPem, ...cert.chainPem].join(''),
    ca: [...cert.rootsPem],
    ALPNProtocols: ['h2'],
    checkServerIdentity: () => undefined,
  };
}

export interface TlsOutcome {
  /** The handshake completed on the client side. */
  secure: boolean;
  alpn: string | false | null | undefined;
  /** The error the socket ended with, if any. */
  error?: Error & { code?: string };
  /** Bytes the server sent after the handshake (an HTTP/2 server sends SETTINGS at once). */
  received: number;
}

/** Connects with raw TLS, sends an HTTP/2 preface, and reports how the connection ended. */
export function tlsAttempt(port: number, opts: ConnectionOptions): Promise<TlsOutcome> {
  return new Promise((resolve) => {
    const out: TlsOutcome = { secure: false, alpn: undefined, received: 0 };
    const socket: TLSSocket = tlsConnect({ host: '127.0.0.1', port, ...opts });
    socket.on('secureConnect', () => {
      out.secure = true;
      out.alpn = socket.alpnProtocol;
      socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00');
    });
    socket.on('data', (d: Buffer) => {
      out.received += d.length;
    });
    socket.on('error', (err) => {
      out.error = err;
    });
    socket.on('close', () => resolve(out));
    // A server that accepted would keep the connection open; stop waiting once it has spoken HTTP/2.
    socket.setTimeout(2_000, () => socket.destroy());
  });
}

export interface H2Outcome {
  status?: number;
  error?: Error & { code?: string };
  /** The RST_STREAM code the stream closed with, when it closed. */
  rstCode?: number;
}

/** Sends one request with exactly `headers` over raw HTTP/2 + TLS and reports the response status or failure. */
export function h2Request(port: number, tls: ConnectionOptions, headers: OutgoingHttpHeaders): Promise<H2Outcome> {
  return new Promise((resolve) => {
    const session = h2connect(`https://127.0.0.1:${port}`, {
      createConnection: () => tlsConnect({ host: '127.0.0.1', port, ...tls }),
    });
    const out: H2Outcome = {};
    session.on('error', (err) => {
      out.error ??= err;
    });
    const finish = (): void => {
      session.destroy();
      resolve(out);
    };
    session.on('close', finish);
    let req;
    try {
      req = session.request(headers, { endStream: false });
    } catch (err) {
      out.error = err as Error;
      finish();
      return;
    }
    req.on('response', (h) => {
      out.status = Number(h[':status']);
      // A tunnel stays open after 200; the status is all this helper reports.
      if (out.status === 200) finish();
    });
    req.on('error', (err) => {
      out.error ??= err;
    });
    req.on('close', () => {
      out.rstCode = req.rstCode;
      finish();
    });
    req.resume();
    if (headers[':method'] !== 'CONNECT') req.end();
  });
}
