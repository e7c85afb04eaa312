import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InferenceError } from '../errors/inference-error.js';
import { negotiate, negotiateOrThrow } from './negotiate.js';
import { parseContentType, parseMediaType } from './parse.js';

const SUPPORTED = ['application/json', 'text/csv', 'application/x-npy', 'application/x-npz'];

describe('parseMediaType', () => {
  it('lower-cases type, subtype and parameter names, and unquotes values', () => {
    expect(parseMediaType('Application/JSON; Charset="UTF-8" ; q=0.5')).toEqual({
      type: 'application',
      subtype: 'json',
      essence: 'application/json',
      params: { charset: 'UTF-8', q: '0.5' },
    });
    expect(parseMediaType('text/csv;header=present')?.params).toEqual({ header: 'present' });
    expect(parseMediaType('text/plain; x="a;b\\"c"')?.params).toEqual({ x: 'a;b"c' });
  });

  it.each([
    '',
    'json',
    '/json',
    'application/',
    'application/json; charset',
    'a b/c',
    'text/csv; x="open',
  ])('returns undefined for %j', (header) => {
    expect(parseMediaType(header)).toBeUndefined();
  });

  it('parseContentType answers junk with 415 and the supported list', () => {
    const error = (() => {
      try {
        parseContentType('not a type', SUPPORTED);
      } catch (e) {
        return e as InferenceError;
      }
      return undefined;
    })();
    expect(error?.status).toBe(415);
    expect(error?.message).toBe(
      'Content-Type "not a type" is not a valid media type; supported: application/json, text/csv, application/x-npy, application/x-npz',
    );
    expect(() => parseContentType('*/*', SUPPORTED)).toThrow(InferenceError);
  });
});

describe('negotiate', () => {
  it('follows q-values', () => {
    expect(negotiate('text/csv;q=0.5, application/json', SUPPORTED)).toBe('application/json');
    expect(negotiate('application/json;q=0.1, text/csv;q=0.9', SUPPORTED)).toBe('text/csv');
  });

  it('gives a missing, empty or bare */* Accept the default', () => {
    for (const accept of [undefined, '', '*/*', '*/*;q=0.8']) {
      expect(negotiate(accept, SUPPORTED, { defaultType: 'text/csv' })).toBe('text/csv');
    }
    expect(negotiate(undefined, SUPPORTED)).toBe('application/json');
  });

  it('matches wildcards, preferring the default among equals', () => {
    expect(negotiate('application/*', SUPPORTED)).toBe('application/json');
    expect(negotiate('application/*', SUPPORTED, { defaultType: 'application/x-npy' })).toBe(
      'application/x-npy',
    );
    expect(negotiate('text/*', SUPPORTED)).toBe('text/csv');
  });

  it('lets a specific q=0 exclude what a wildcard would allow', () => {
    expect(negotiate('application/json;q=0, */*', SUPPORTED)).toBe('text/csv');
    expect(negotiate('text/csv;q=0, */*;q=0.1', ['text/csv'])).toBeUndefined();
  });

  it('matches parameters case-insensitively and ignores junk elements', () => {
    expect(negotiate('garbage, text/csv', SUPPORTED)).toBe('text/csv');
    expect(negotiate('APPLICATION/X-NPY', SUPPORTED)).toBe('application/x-npy');
  });

  it('returns undefined, or 406 from negotiateOrThrow, when nothing fits', () => {
    expect(negotiate('application/xml', SUPPORTED)).toBeUndefined();
    expect(() => negotiateOrThrow('application/xml', SUPPORTED)).toThrow(
      'cannot answer Accept "application/xml"; supported: application/json, text/csv, application/x-npy, application/x-npz',
    );
  });

  it('always answers with one of the candidates, or nothing', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (accept) => {
        const chosen = negotiate(accept, SUPPORTED);
        return chosen === undefined || SUPPORTED.includes(chosen);
      }),
      { numRuns: 2000 },
    );
  });
});
