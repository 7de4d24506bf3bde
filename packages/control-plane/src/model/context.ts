/**
 * What every step of the model computation shares: the input indexed by kind, the options, and the
 * diagnostics the model adds about references between objects (a waypoint that does not exist, a named
 * port a pod lacks, …). Reports are de-duplicated, since a namespace label is consulted once per pod.
 */
import { diagnosticAt } from '../input/diagnostics.js';
import type { PathSegment, Severity } from '../input/field.js';
import type { InputSet } from '../input/input-set.js';
import type {
  AuthorizationPolicyObject,
  GatewayObject,
  InputObject,
  NamespaceObject,
  NodeObject,
  PeerAuthenticationObject,
  PodObject,
  ServiceObject,
} from '../input/objects.js';
import type { ModelOptions } from './options.js';
import type { InputDiagnostic } from './snapshot.js';

export class ModelContext {
  readonly options: ModelOptions;
  readonly namespaces = new Map<string, NamespaceObject>();
  readonly nodes = new Map<string, NodeObject>();
  readonly pods: PodObject[] = [];
  readonly services: ServiceObject[] = [];
  /** By `namespace/name`. */
  readonly gateways = new Map<string, GatewayObject>();
  readonly authorizationPolicies: AuthorizationPolicyObject[] = [];
  readonly peerAuthentications: PeerAuthenticationObject[] = [];
  readonly diagnostics: InputDiagnostic[] = [];
  readonly #reported = new Set<string>();

  constructor(input: InputSet, options: ModelOptions) {
    this.options = options;
    for (const object of input.objects) {
      switch (object.kind) {
        case 'Namespace':
          this.namespaces.set(object.metadata.name, object);
          break;
        case 'Node':
          this.nodes.set(object.metadata.name, object);
          break;
        case 'Pod':
          this.pods.push(object);
          break;
        case 'Service':
          this.services.push(object);
          break;
        case 'Gateway':
          this.gateways.set(`${object.metadata.namespace}/${object.metadata.name}`, object);
          break;
        case 'AuthorizationPolicy':
          this.authorizationPolicies.push(object);
          break;
        case 'PeerAuthentication':
          this.peerAuthentications.push(object);
          break;
        case 'ServiceAccount':
          break;
      }
    }
  }

  /** Labels of a namespace; namespaces need not be declared (Kubernetes would create them), so `{}` then. */
  namespaceLabels(namespace: string): Readonly<Record<string, string>> {
    return this.namespaces.get(namespace)?.metadata.labels ?? {};
  }

  report(object: InputObject, path: readonly PathSegment[], message: string, severity: Severity = 'warning'): void {
    const diagnostic = diagnosticAt(object.source, path, message, severity);
    const key = `${diagnostic.file}\0${diagnostic.document}\0${diagnostic.path}\0${diagnostic.message}`;
    if (this.#reported.has(key)) return;
    this.#reported.add(key);
    this.diagnostics.push(diagnostic);
  }
}

/** `metadata.labels["<key>"]`, for pointing diagnostics at a label. */
export function labelPath(key: string): PathSegment[] {
  return ['metadata', 'labels', key];
}
