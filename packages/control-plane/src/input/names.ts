/**
 * Kubernetes name and label syntax (apimachinery's validation rules), as checks that return a problem
 * description or undefined. Names end up in resource keys, SPIFFE identities and hostnames, so they are
 * checked where they enter rather than wherever they are used.
 */

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/** Namespaces and service port names: lower-case alphanumerics and '-', at most 63 characters. */
export function checkDns1123Label(value: string): string | undefined {
  if (value.length > 63) return `must be at most 63 characters, got ${value.length}`;
  if (!DNS1123_LABEL.test(value)) {
    return `${JSON.stringify(value)} is not a valid DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit)`;
  }
  return undefined;
}

/** Service names: a DNS-1035 label (must start with a letter). */
export function checkDns1035Label(value: string): string | undefined {
  if (value.length > 63) return `must be at most 63 characters, got ${value.length}`;
  if (!DNS1035_LABEL.test(value)) {
    return `${JSON.stringify(value)} is not a valid DNS-1035 label (lower-case letters, digits and '-', starting with a letter)`;
  }
  return undefined;
}

/** Most object names: dot-separated DNS-1123 labels, at most 253 characters. */
export function checkDns1123Subdomain(value: string): string | undefined {
  if (value.length > 253) return `must be at most 253 characters, got ${value.length}`;
  if (!value.split('.').every((part) => part.length > 0 && part.length <= 63 && DNS1123_LABEL.test(part))) {
    return `${JSON.stringify(value)} is not a valid DNS-1123 subdomain (lower-case letters, digits, '-' and '.')`;
  }
  return undefined;
}

/** A label or annotation key: `[prefix/]name`, prefix a DNS subdomain, name at most 63 characters. */
export function checkQualifiedName(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined) {
    if (prefix.length === 0) return `key ${JSON.stringify(key)} has an empty prefix`;
    if (checkDns1123Subdomain(prefix) !== undefined) {
      return `key ${JSON.stringify(key)} has an invalid prefix (must be a DNS subdomain such as "example.com")`;
    }
  }
  if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) {
    return `key ${JSON.stringify(key)} is not a valid label key (name part: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)`;
  }
  return undefined;
}

/** A label value: empty, or at most 63 characters of letters, digits, '-', '_' and '.'. */
export function checkLabelValue(value: string): string | undefined {
  if (value.length === 0) return undefined;
  if (value.length > 63 || !LABEL_NAME.test(value)) {
    return `value ${JSON.stringify(value)} is not a valid label value (at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)`;
  }
  return undefined;
}

/** For `Field.stringMap` on labels and selectors. */
export function checkLabel(key: string, value: string): string | undefined {
  return checkQualifiedName(key) ?? checkLabelValue(value);
}

/** For `Field.stringMap` on annotations: keys are checked, values are free text. */
export function checkAnnotation(key: string): string | undefined {
  return checkQualifiedName(key);
}

/** Named container and target ports: IANA service names (at most 15 characters, at least one letter). */
export function checkPortName(value: string): string | undefined {
  if (value.length > 15 || !IANA_SVC_NAME.test(value) || value.includes('--') || !/[a-z]/.test(value)) {
    return `${JSON.stringify(value)} is not a valid port name (at most 15 lower-case letters, digits and '-', with at least one letter)`;
  }
  return undefined;
}
