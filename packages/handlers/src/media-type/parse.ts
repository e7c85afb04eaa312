import { InferenceError } from '../errors/inference-error.js';

/** A parsed media type: lower-cased `type/subtype` and its parameters. */
export interface MediaType {
  readonly type: string;
  readonly subtype: string;
  /** `type/subtype`, lower-cased, without parameters. */
  readonly essence: string;
  /** Parameter names lower-cased; values as sent, unquoted. */
  readonly params: Readonly<Record<string, string>>;
}

// RFC 9110 token characters.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Parse a `Content-Type` (or one `Accept` element) per RFC 9110: case-insensitive
 * type, subtype and parameter names, optional whitespace, quoted parameter values.
 * Returns `undefined` for anything that is not a media type.
 *
 * @example
 * ```ts
 * parseMediaType('Application/JSON; charset="utf-8"');
 * // { type: 'application', subtype: 'json', essence: 'application/json', params: { charset: 'utf-8' } }
 * ```
 */
export function parseMediaType(header: string): MediaType | undefined {
  const parts = splitOutsideQuotes(header, ';');
  const head = parts.shift()?.trim() ?? '';
  const slash = head.indexOf('/');
  if (slash <= 0) return undefined;
  const type = head.slice(0, slash).toLowerCase();
  const subtype = head.slice(slash + 1).toLowerCase();
  if (!TOKEN.test(type) || !TOKEN.test(subtype)) return undefined;
  // No prototype: parameter names come from clients, and a lookup of one they did not
  // send (`params[name]` for a `constructor=x` in Accept) must not find Object's members.
  const params = Object.create(null) as Record<string, string>;
  for (const part of parts) {
    const trimmed = part.trim();
    if (trimmed === '') continue;
    const eq = trimmed.indexOf('=');
    if (eq <= 0) return undefined;
    const name = trimmed.slice(0, eq).trim().toLowerCase();
    let value = trimmed.slice(eq + 1).trim();
    if (!TOKEN.test(name)) return undefined;
    if (value.startsWith('"')) {
      if (value.length < 2 || !value.endsWith('"')) return undefined;
      value = value.slice(1, -1).replace(/\\(.)/g, '$1');
    } else if (!TOKEN.test(value)) {
      return undefined;
    }
    params[name] = value;
  }
  return { type, subtype, essence: `${type}/${subtype}`, params };
}

/**
 * Parse a request's `Content-Type`, or fail with 415 naming what was sent and what
 * is supported.
 *
 * @example
 * ```ts
 * parseContentType('text/csv; header=present', ['text/csv']).params.header; // 'present'
 * ```
 */
export function parseContentType(header: string, supported: readonly string[]): MediaType {
  const parsed = parseMediaType(header);
  if (parsed === undefined || parsed.type === '*' || parsed.subtype === '*') {
    throw new InferenceError(
      'UNSUPPORTED_MEDIA_TYPE',
      `Content-Type ${JSON.stringify(header)} is not a valid media type; supported: ${supported.join(', ')}`,
      { details: { supported } },
    );
  }
  return parsed;
}

/** Split on `separator` where it is not inside a quoted string. */
export function splitOutsideQuotes(value: string, separator: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] ?? '';
    if (quoted && ch === '\\' && i + 1 < value.length) {
      current += ch + (value[i + 1] ?? '');
      i++;
      continue;
    }
    if (ch === '"') quoted = !quoted;
    if (ch === separator && !quoted) {
      out.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  out.push(current);
  return out;
}
