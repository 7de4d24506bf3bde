/**
 * The static token file: who may call the CA (and, optionally, xDS) with which bearer token.
 *
 * YAML or JSON (JSON is YAML), one mapping from token to caller:
 *
 * ```yaml
 * 3q2-node-a-token: { node: node-a }                       # a ztunnel: its node's pods' identities
 * 3q2-sleep-token: { identity: spiffe://cluster.local/ns/default/sa/sleep }   # one workload: itself
 * 3q2-node-b-token: { node: node-b, identity: spiffe://cluster.local/ns/istio-system/sa/ztunnel }
 * ```
 *
 * A node token may obtain the identities of the pods the current snapshot places on that node (istiod's
 * node authorizer), plus its own `identity` if given. Every problem in the file is reported at once,
 * each with its key; token values never appear in messages (they are secrets).
 */
import { readFile } from 'node:fs/promises';
import { LineCounter, isMap, isScalar, parseDocument } from 'yaml';
import { MeshError } from '@ambit/mesh-core/errors';
import { Identity, IdentityError } from '@ambit/mesh-core/identity';

/** A workload caller: may obtain exactly `identity`. */
export interface WorkloadTokenSpec {
  readonly token: string;
  readonly identity: Identity;
}

/** A node proxy caller: may impersonate the pods on `node`; may also hold its own `identity`. */
export interface NodeTokenSpec {
  readonly token: string;
  readonly node: string;
  readonly identity?: Identity;
}

export type TokenSpec = WorkloadTokenSpec | NodeTokenSpec;

export function isNodeToken(spec: TokenSpec): spec is NodeTokenSpec {
  return 'node' in spec;
}

/** RFC 6750 b64token, what the CA accepts after `Bearer `. */
const TOKEN_RE = /^[A-Za-z0-9\-._~+/]+=*$/;
/** Kubernetes node names are DNS-1123 subdomains. */
export const NODE_NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export class TokenFileError extends MeshError {
  readonly problems: readonly string[];

  constructor(file: string, problems: readonly string[]) {
    super('CP_ERR_TOKEN_FILE', `${file}: ${problems.length === 1 ? problems[0] : `${problems.length} problems:\n  ${problems.join('\n  ')}`}`);
    this.problems = problems;
  }
}

/** Tokens are secrets: name an entry by its position and a short prefix only. */
function label(index: number, token: string): string {
  return `entry ${index + 1} (token ${token.slice(0, 4)}…)`;
}

/**
 * Parses token file text. Identities must be in `trustDomain` (a token for another trust domain could
 * never be used, so it is a mistake worth reporting). Throws TokenFileError listing every problem.
 */
export function parseTokenFile(text: string, file: string, trustDomain: string): TokenSpec[] {
  const lines = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter: lines });
  if (doc.errors.length > 0) {
    // The YAML parser's messages quote source text, which may be a token: report positions only.
    throw new TokenFileError(
      file,
      doc.errors.map((e) => `YAML error at line ${lines.linePos(e.pos[0]).line}: ${e.code}`),
    );
  }
  const root: unknown = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === ''))) return [];
  if (!isMap(root)) throw new TokenFileError(file, ['the file must be a mapping from token to { node } or { identity }']);
  const problems: string[] = [];
  const specs: TokenSpec[] = [];
  root.items.forEach((pair, index) => {
    const key = isScalar(pair.key) ? pair.key.value : undefined;
    if (typeof key !== 'string') {
      // A bare 12345 or true would be read as a number or boolean, and big numbers lose digits.
      problems.push(`entry ${index + 1}: the key must be a token string (quote tokens that look like numbers)`);
      return;
    }
    const token = key;
    const where = label(index, token);
    if (!TOKEN_RE.test(token)) {
      problems.push(`${where}: a token may hold only A-Z a-z 0-9 - . _ ~ + / and trailing = (RFC 6750)`);
      return;
    }
    const value: unknown = pair.value && isMap(pair.value) ? (pair.value.toJSON() as unknown) : undefined;
    if (typeof value !== 'object' || value === null) {
      problems.push(`${where}: the value must be a mapping { node: <name> } or { identity: spiffe://… }`);
      return;
    }
    const fields = value as Record<string, unknown>;
    const unknownKeys = Object.keys(fields).filter((k) => k !== 'node' && k !== 'identity');
    if (unknownKeys.length > 0) problems.push(`${where}: unknown field(s) ${unknownKeys.join(', ')}; expected node and/or identity`);
    let identity: Identity | undefined;
    if (fields['identity'] !== undefined) {
      if (typeof fields['identity'] !== 'string') {
        problems.push(`${where}: identity must be a string`);
      } else {
        try {
          identity = Identity.parse(fields['identity']);
          if (identity.trustDomain !== trustDomain) {
            problems.push(`${where}: identity ${identity.uri} is outside the trust domain "${trustDomain}"`);
          }
        } catch (err) {
          problems.push(`${where}: ${err instanceof IdentityError ? err.reason : String(err)}`);
        }
      }
    }
    const node = fields['node'];
    if (node !== undefined) {
      if (typeof node !== 'string' || !NODE_NAME_RE.test(node) || node.length > 253) {
        problems.push(`${where}: node must be a Kubernetes node name (DNS-1123 subdomain), got ${JSON.stringify(node)}`);
        return;
      }
      specs.push(identity ? { token, node, identity } : { token, node });
    } else if (identity) {
      specs.push({ token, identity });
    } else if (fields['identity'] === undefined) {
      problems.push(`${where}: needs node or identity`);
    }
  });
  if (problems.length > 0) throw new TokenFileError(file, problems);
  return specs;
}

/** Reads and parses a token file. */
export async function loadTokenFile(file: string, trustDomain: string): Promise<TokenSpec[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new TokenFileError(file, [`cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  return parseTokenFile(text, file, trustDomain);
}
