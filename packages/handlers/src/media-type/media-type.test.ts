import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { errorOf } from '../../test/helpers.js';
import { decode, encode } from '../codecs/registry.js';
import { InferenceError } from '../errors/inference-error.js';
import { createTensor } from '../tensor/tensor.js';
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
    expect(negotiate('text/csv;q=0, */*', SUPPORTED)).toBe('application/json');
    expect(negotiate('text/csv;q=0, */*', SUPPORTED, { defaultType: 'text/csv' })).toBe(
      'application/json',
    );
    expect(negotiate('text/*;q=0, text/csv', SUPPORTED)).toBe('text/csv');
    expect(negotiate('*/*;q=0', SUPPORTED)).toBeUndefined();
    expect(negotiate('application/json;q=0, */*', SUPPORTED)).toBe('text/csv');
    expect(negotiate('text/csv;q=0, */*;q=0.1', ['text/csv'])).toBeUndefined();
  });

  it('matches parameters case-insensitively and ignores junk elements', () => {
    expect(negotiate('garbage, text/csv', SUPPORTED)).toBe('text/csv');
    expect(negotiate('APPLICATION/X-NPY', SUPPORTED)).toBe('application/x-npy');
    expect(negotiate('text/csv;q=2, application/x-npy;q=abc, text/*;q=0.3', SUPPORTED)).toBe(
      'text/csv',
    );
    const withParams = ['text/csv; header=present', 'application/json'];
    expect(negotiate('text/csv; HEADER=Present', withParams)).toBe('text/csv; header=present');
    expect(negotiate('text/csv; header=absent', withParams)).toBeUndefined();
  });

  it('does not mistake Object members for parameters a candidate has', () => {
    // A range asking for `constructor` must not find Object.prototype.constructor.
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(negotiate(`application/json; ${name}=x, text/csv;q=0.5`, SUPPORTED)).toBe('text/csv');
    }
    const parsed = parseMediaType('text/csv; __proto__=x; constructor=y');
    expect(parsed?.params['__proto__']).toBe('x');
    expect(parsed?.params['constructor']).toBe('y');
    expect(parseMediaType('text/csv')?.params['constructor']).toBeUndefined();
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

describe('content negotiation through the default registry', () => {
  const body = new TextEncoder().encode('[[1, 2]]');
  const tensor = createTensor('float32', [1, 2], new Float32Array([1, 2]));

  it('decodes JSON whatever the case and parameters of its Content-Type', () => {
    for (const type of ['application/json; charset=utf-8', 'Application/JSON;Charset="UTF-8"']) {
      expect(decode(body, type)).toMatchObject({ dtype: 'float32', shape: [1, 2] });
    }
    expect(decode(new TextEncoder().encode('1,2\n'), 'text/csv; header=absent')).toMatchObject({
      shape: [1, 2],
    });
  });

  it('answers an unsupported Content-Type with 415 listing the supported types', () => {
    const error = errorOf(() => decode(body, 'application/xml'));
    expect(error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(error.status).toBe(415);
    expect(error.message).toMatch(/^Content-Type application\/xml is not supported; supported: /);
    expect(error.message).toContain('application/json, text/csv');
    expect(errorOf(() => decode(body, 'application/json; charset=latin1')).status).toBe(415);
    expect(errorOf(() => decode(body, '')).status).toBe(415);
  });

  it('answers an Accept it cannot satisfy with 406 listing the supported types', () => {
    const error = errorOf(() => encode(tensor, 'application/xml'));
    expect(error.code).toBe('NOT_ACCEPTABLE');
    expect(error.status).toBe(406);
    expect(error.message).toMatch(/^cannot answer Accept "application\/xml"; supported: /);
    expect(error.message).toContain('application/json, text/csv');
    expect(error.details?.['supported']).toContain('text/csv');
  });

  it('writes what Accept prefers, and JSON for a missing Accept or */*', () => {
    const text = (accept: string | undefined) => {
      const { body: out, contentType } = encode(tensor, accept);
      return `${contentType} ${new TextDecoder().decode(out)}`;
    };
    expect(text(undefined)).toBe('application/json [[1,2]]');
    expect(text('*/*')).toBe('application/json [[1,2]]');
    expect(text('text/csv;q=0.5, application/json')).toBe('application/json [[1,2]]');
    expect(text('text/*')).toBe('text/csv 1,2\n');
    expect(text('text/csv;q=0, */*')).toBe('application/json [[1,2]]');
  });
});
