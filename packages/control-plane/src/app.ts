/**
 * The control plane assembled: CA material, tokens, the gRPC/TLS server carrying delta xDS and the CA
 * (one port, as istiod's 15012), and the admin HTTP server. The snapshot source is handed in: main.ts
 * owns the model (its creation and shutdown), this owns everything that serves it.
 */
import * as grpc from '@grpc/grpc-js';
import { addCaService, splitPemChain, type CaMaterial } from '@ambit/mesh-core/identity';
import { realClock, type Clock } from '@ambit/mesh-core/lifecycle';
import type { Logger } from '@ambit/mesh-core/telemetry';
import { Registry } from 'prom-client';
import { AdminServer } from './admin/admin-server.js';
import { configDump } from './admin/config-dump.js';
import { MeshAuthenticator } from './ca/authenticator.js';
import { generatedCaMaterial, loadCaMaterial, writeRootCert } from './ca/ca-material.js';
import { CountingCertificateAuthority } from './ca/counting-ca.js';
import { NodeTokenStore } from './ca/node-tokens.js';
import { WaypointTokenStore } from './ca/waypoint-tokens.js';
import { issueControlPlaneCertificate } from './ca/serving-cert.js';
import { loadTokenFile, type TokenSpec } from './ca/tokens.js';
import type { ControlPlaneConfig, HostPort } from './config.js';
import type { SnapshotSource } from './model/snapshot.js';
import { XdsServer } from './server/xds-server.js';

export interface ControlPlaneOptions {
  readonly config: ControlPlaneConfig;
  /** The model; not closed by the control plane (its creator owns it). */
  readonly source: SnapshotSource;
  readonly logger: Logger;
  /** For the shutdown deadline (tests pass a FakeClock). */
  readonly clock?: Clock;
}

function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function bind(server: grpc.Server, address: HostPort, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(formatHostPort(address.host, address.port), credentials, (err, port) => (err ? reject(err) : resolve(port))),
  );
}

export class ControlPlane {
  readonly config: ControlPlaneConfig;
  readonly registry: Registry;
  readonly xds: XdsServer;
  readonly ca: CountingCertificateAuthority;
  readonly caMaterial: CaMaterial;
  readonly authenticator: MeshAuthenticator;
  /** Generated node tokens (with --state-dir). */
  readonly nodeTokens: NodeTokenStore | undefined;
  /** Generated waypoint tokens (with --state-dir). */
  readonly waypointTokens: WaypointTokenStore | undefined;
  /** `<state-dir>/root-cert.pem`, when a state directory is configured. */
  readonly rootCertPath: string | undefined;
  /** The gRPC (xDS + CA) address actually bound. */
  readonly grpcAddress: string;
  readonly adminAddress: string;
  readonly #grpc: grpc.Server;
  readonly #admin: AdminServer;
  readonly #logger: Logger;
  readonly #clock: Clock;
  #closing = false;

  private constructor(parts: {
    config: ControlPlaneConfig;
    registry: Registry;
    xds: XdsServer;
    ca: CountingCertificateAuthority;
    caMaterial: CaMaterial;
    authenticator: MeshAuthenticator;
    nodeTokens: NodeTokenStore | undefined;
    waypointTokens: WaypointTokenStore | undefined;
    rootCertPath: string | undefined;
    grpcServer: grpc.Server;
    grpcAddress: string;
    admin: AdminServer;
    adminAddress: string;
    logger: Logger;
    clock: Clock;
  }) {
    this.config = parts.config;
    this.registry = parts.registry;
    this.xds = parts.xds;
    this.ca = parts.ca;
    this.caMaterial = parts.caMaterial;
    this.authenticator = parts.authenticator;
    this.nodeTokens = parts.nodeTokens;
    this.waypointTokens = parts.waypointTokens;
    this.rootCertPath = parts.rootCertPath;
    this.#grpc = parts.grpcServer;
    this.grpcAddress = parts.grpcAddress;
    this.#admin = parts.admin;
    this.adminAddress = parts.adminAddress;
    this.#logger = parts.logger;
    this.#clock = parts.clock;
  }

  /** Loads or generates the CA, binds both servers and starts serving `source`. */
  static async start(options: ControlPlaneOptions): Promise<ControlPlane> {
    const { config, source } = options;
    const logger = options.logger;
    const undo: (() => void)[] = [];
    try {
      let caMaterial: CaMaterial;
      if (config.ca) {
        caMaterial = await loadCaMaterial(config.ca);
      } else {
        // parseConfig guarantees a state dir when no CA files are given.
        const generated = await generatedCaMaterial(config.stateDir!, config.trustDomain);
        caMaterial = generated.material;
        logger.info({ stateDir: config.stateDir, created: generated.created }, generated.created ? 'generated a mesh root CA' : 'reusing the generated mesh root CA');
      }
      const rootCertPath = config.stateDir !== undefined ? await writeRootCert(config.stateDir, caMaterial) : undefined;

      const specs: TokenSpec[] = config.tokensPath !== undefined ? await loadTokenFile(config.tokensPath, config.trustDomain) : [];
      const authenticator = new MeshAuthenticator(source, specs);
      let nodeTokens: NodeTokenStore | undefined;
      let waypointTokens: WaypointTokenStore | undefined;
      if (config.stateDir !== undefined) {
        const store = new NodeTokenStore(config.stateDir, source, authenticator, logger);
        await store.start();
        undo.push(() => void store.close());
        nodeTokens = store;
        const waypointStore = new WaypointTokenStore(config.stateDir, source, authenticator, logger);
        await waypointStore.start();
        undo.push(() => void waypointStore.close());
        waypointTokens = waypointStore;
      }

      const registry = new Registry();
      const ca = new CountingCertificateAuthority(
        { ca: caMaterial, trustDomain: config.trustDomain, authenticator, logger: logger.child({ component: 'ca' }) },
        registry,
      );
      const xds = new XdsServer({ source, logger, registry, ...(config.xdsRequireToken ? { authenticator } : {}) });
      undo.push(() => xds.destroy());

      const serving = await issueControlPlaneCertificate(caMaterial, config.trustDomain, config.serverNames);
      const grpcServer = new grpc.Server({
        // ztunnel keeps one ADS stream open for hours; ping idle connections so dead peers are noticed.
        'grpc.keepalive_time_ms': 30_000,
        'grpc.keepalive_timeout_ms': 10_000,
      });
      addCaService(grpcServer, ca);
      xds.register(grpcServer);
      const credentials = grpc.ServerCredentials.createSsl(
        null,
        [{ private_key: Buffer.from(serving.privateKeyPem), cert_chain: Buffer.from(serving.chainPem) }],
        false,
      );
      undo.push(() => grpcServer.forceShutdown());
      const grpcPort = await bind(grpcServer, config.listen, credentials);
      const grpcAddress = formatHostPort(config.listen.host, grpcPort);

      // The readiness check needs the instance; it exists before the admin server answers anything.
      const started: { instance?: ControlPlane } = {};
      const admin = new AdminServer({
        host: config.admin.host,
        port: config.admin.port,
        logger,
        registry,
        configDump: () =>
          configDump({
            xds,
            ca: {
              trustDomain: config.trustDomain,
              rootsPem: splitPemChain([...caMaterial.rootsPem]),
              counters: () => ca.counters(),
              staticTokens: specs.length,
              nodesWithTokens: () => nodeTokens?.nodes() ?? [],
              waypointsWithTokens: () => waypointTokens?.waypoints() ?? [],
            },
            server: {
              listen: grpcAddress,
              serverNames: config.serverNames,
              identity: serving.identity.uri,
              xdsRequireToken: config.xdsRequireToken,
              clusterId: config.clusterId,
              ...(rootCertPath !== undefined ? { rootCertPath } : {}),
            },
          }),
        readiness: () =>
          started.instance === undefined
            ? { ready: false, reasons: ['starting'] }
            : started.instance.#closing
              ? { ready: false, reasons: ['shutting down'] }
              : { ready: true, reasons: [] },
      });
      undo.push(() => admin.destroy());
      const adminInfo = await admin.listen();
      const adminAddress = formatHostPort(adminInfo.address, adminInfo.port);

      const instance = new ControlPlane({
        config,
        registry,
        xds,
        ca,
        caMaterial,
        authenticator,
        nodeTokens,
        waypointTokens,
        rootCertPath,
        grpcServer,
        grpcAddress,
        admin,
        adminAddress,
        logger,
        clock: options.clock ?? realClock,
      });
      started.instance = instance;
      logger.info(
        { grpc: grpcAddress, admin: adminAddress, trustDomain: config.trustDomain, serverNames: config.serverNames, rootCert: rootCertPath },
        'control plane serving',
      );
      return instance;
    } catch (err) {
      for (const f of undo.reverse()) f();
      throw err;
    }
  }

  /**
   * Graceful stop: not ready, xDS streams end with OK (ztunnels reconnect elsewhere), the gRPC server
   * drains, the admin server closes. Waits at most `deadlineMs` for gRPC calls, then cuts them.
   */
  async close(deadlineMs = 5_000): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    await this.xds.close();
    await this.nodeTokens?.close();
    await this.waypointTokens?.close();
    await new Promise<void>((resolve) => {
      const timer = this.#clock.setTimeout(() => {
        this.#logger.warn({ deadlineMs }, 'gRPC calls still open at the shutdown deadline; cutting them');
        this.#grpc.forceShutdown();
        resolve();
      }, deadlineMs);
      this.#grpc.tryShutdown(() => {
        timer.cancel();
        resolve();
      });
    });
    await this.#admin.close();
  }

  /** Immediate stop: every stream and connection is cut. */
  destroy(): void {
    this.#closing = true;
    this.xds.destroy();
    void this.nodeTokens?.close();
    void this.waypointTokens?.close();
    this.#grpc.forceShutdown();
    this.#admin.destroy();
  }
}
