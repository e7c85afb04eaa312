import { InferenceError } from '../errors/inference-error.js';
import { parseMediaType, splitOutsideQuotes, type MediaType } from './parse.js';

interface AcceptRange {
  readonly range: MediaType;
  readonly q: number;
  /** 0 for `*\/*`, 1 for `type/*`, 2 for `type/subtype`, plus one per extra parameter. */
  readonly specificity: number;
}

function parseAccept(header: string): AcceptRange[] {
  const ranges: AcceptRange[] = [];
  for (const element of splitOutsideQuotes(header, ',')) {
    if (element.trim() === '') continue;
    const parsed = parseMediaType(element);
    if (parsed === undefined) continue; // RFC 9110: ignore what cannot be parsed
    const { q: rawQ, ...params } = parsed.params;
    const q = rawQ === undefined ? 1 : Number(rawQ);
    if (!Number.isFinite(q) || q < 0 || q > 1) continue;
    const specificity =
      (parsed.type === '*' ? 0 : parsed.subtype === '*' ? 1 : 2) + Object.keys(params).length;
    ranges.push({ range: { ...parsed, params }, q, specificity });
  }
  return ranges;
}

function rangeMatches(range: MediaType, candidate: MediaType): boolean {
  if (range.type !== '*' && range.type !== candidate.type) return false;
  if (range.subtype !== '*' && range.subtype !== candidate.subtype) return false;
  return Object.entries(range.params).every(
    ([name, value]) => candidate.params[name]?.toLowerCase() === value.toLowerCase(),
  );
}

/** The quality an Accept header gives a candidate: that of its most specific matching range. */
function qualityOf(ranges: readonly AcceptRange[], candidate: MediaType): number {
  let best: AcceptRange | undefined;
  for (const r of ranges) {
    if (
      rangeMatches(r.range, candidate) &&
      (best === undefined || r.specificity > best.specificity)
    ) {
      best = r;
    }
  }
  return best?.q ?? 0;
}

export interface NegotiateOptions {
  /**
   * What a missing, empty or bare `*\/*` Accept gets, and the winner among equally
   * preferred candidates when it is one of them.
   * @defaultValue the first candidate
   */
  defaultType?: string;
}

/**
 * Choose the response media type from an `Accept` header: q-values, wildcards and
 * specificity per RFC 9110; ties go to the default, then to candidate order.
 * Returns the chosen candidate as given, or `undefined` when none is acceptable.
 *
 * @example
 * ```ts
 * negotiate('text/csv;q=0.5, application/json', ['application/json', 'text/csv']);
 * // 'application/json'
 * negotiate(undefined, ['application/json', 'text/csv'], { defaultType: 'text/csv' });
 * // 'text/csv'
 * ```
 */
export function negotiate(
  accept: string | undefined,
  candidates: readonly string[],
  options: NegotiateOptions = {},
): string | undefined {
  const defaultType = options.defaultType ?? candidates[0];
  const ranges = parseAccept(accept ?? '');
  const onlyAny = ranges.every((r) => r.range.essence === '*/*' && r.q > 0);
  if (ranges.length === 0 || onlyAny) {
    if (defaultType !== undefined && candidates.includes(defaultType)) return defaultType;
    return candidates[0];
  }
  let best: { candidate: string; q: number } | undefined;
  for (const candidate of candidates) {
    const parsed = parseMediaType(candidate);
    if (parsed === undefined) continue;
    const q = qualityOf(ranges, parsed);
    if (q <= 0) continue;
    if (
      best === undefined ||
      q > best.q ||
      (q === best.q && candidate === defaultType && best.candidate !== defaultType)
    ) {
      best = { candidate, q };
    }
  }
  return best?.candidate;
}

/**
 * {@link negotiate}, failing with 406 and the supported list when nothing is acceptable.
 *
 * @example
 * ```ts
 * negotiateOrThrow('application/xml', ['application/json']);
 * // throws InferenceError NOT_ACCEPTABLE: cannot answer Accept "application/xml"; supported: application/json
 * ```
 */
export function negotiateOrThrow(
  accept: string | undefined,
  candidates: readonly string[],
  options: NegotiateOptions = {},
): string {
  const chosen = negotiate(accept, candidates, options);
  if (chosen === undefined) {
    throw new InferenceError(
      'NOT_ACCEPTABLE',
      `cannot answer Accept ${JSON.stringify(accept ?? '')}; supported: ${candidates.join(', ')}`,
      { details: { supported: candidates } },
    );
  }
  return chosen;
}
