/**
 * The mesh CA with counters: every CreateCertificate is counted as issued or refused (by refusal code),
 * for config_dump and for Prometheus under istiod's names (`citadel_server_csr_count`,
 * `citadel_server_success_cert_issuance_count`, `citadel_server_authentication_failure_count`).
 */
import type { Metadata } from '@grpc/grpc-js';
import { Counter, type Registry } from 'prom-client';
import type { IstioCertificateRequest, IstioCertificateResponse } from '@ambit/protos';
import { CaRequestError, CertificateAuthorityService, type CertificateAuthorityOptions } from '@ambit/mesh-core/identity';

export interface CaCounters {
  readonly requests: number;
  readonly issued: number;
  /** Refusals by CaRequestError code (CA_ERR_PERMISSION_DENIED, ...). */
  readonly refused: Readonly<Record<string, number>>;
}

export class CountingCertificateAuthority extends CertificateAuthorityService {
  #requests = 0;
  #issued = 0;
  readonly #refused = new Map<string, number>();
  readonly #csrs: Counter;
  readonly #successes: Counter;
  readonly #authFailures: Counter;
  readonly #refusals: Counter<'code'>;

  constructor(options: CertificateAuthorityOptions, registry: Registry) {
    super(options);
    this.#csrs = new Counter({ name: 'citadel_server_csr_count', help: 'Certificate signing requests received.', registers: [registry] });
    this.#successes = new Counter({
      name: 'citadel_server_success_cert_issuance_count',
      help: 'Certificates issued.',
      registers: [registry],
    });
    this.#authFailures = new Counter({
      name: 'citadel_server_authentication_failure_count',
      help: 'Certificate requests whose caller could not be authenticated.',
      registers: [registry],
    });
    this.#refusals = new Counter({
      name: 'ambit_ca_refusals_total',
      help: 'Certificate requests refused, by refusal code.',
      labelNames: ['code'],
      registers: [registry],
    });
  }

  counters(): CaCounters {
    return { requests: this.#requests, issued: this.#issued, refused: Object.fromEntries([...this.#refused].sort()) };
  }

  override async createCertificate(request: IstioCertificateRequest, metadata: Metadata, peer?: string): Promise<IstioCertificateResponse> {
    this.#requests++;
    this.#csrs.inc();
    try {
      const response = await super.createCertificate(request, metadata, peer);
      this.#issued++;
      this.#successes.inc();
      return response;
    } catch (err) {
      const code = err instanceof CaRequestError ? err.code : 'CA_ERR_INTERNAL';
      this.#refused.set(code, (this.#refused.get(code) ?? 0) + 1);
      this.#refusals.inc({ code });
      if (code === 'CA_ERR_UNAUTHENTICATED') this.#authFailures.inc();
      throw err;
    }
  }
}
