import type { AnswerCheck } from './load.js';
import { deflatedZeros, f32Header, junk, npy, npyRows, zipOne } from './bodies.js';

/** A request the gateway must refuse with a 4xx, or answer right (`answer`). */
export interface Case {
  readonly name: string;
  readonly body?: Uint8Array | string;
  readonly headers: Record<string, string>;
  /** Answered 200 with this check, instead of refused. */
  readonly answer?: AnswerCheck;
}

export const ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.3, 3.3, 6.0, 2.5],
];
export const CSV = 'text/csv';
export const JSON_TYPE = 'application/json';
export const NPY = 'application/x-npy';
const NPZ = 'application/x-npz';

/**
 * Malformed requests for the iris model: truncated and hostile NPY, NPZ junk and
 * a zip bomb, ragged and hostile JSON, junk CSV, wrong content types, missing and
 * oversized bodies. `zerosCheck` checks the answer for a [2, 4] array of zeros
 * (one case is a valid NPY with a 5 MB header of padding).
 */
export async function malformedCases(zerosCheck: AnswerCheck): Promise<Case[]> {
  const good = npyRows(ROWS);
  const bomb = await deflatedZeros(1024 * 1024 * 1024);
  const cases: Case[] = [
    { name: 'truncated NPY (data)', body: good.subarray(0, good.length - 5), headers: {} },
    { name: 'truncated NPY (header)', body: good.subarray(0, 40), headers: {} },
    {
      name: 'NPY header length 4 GiB',
      body: (() => {
        const b = npy(f32Header('2, 4'), new Uint8Array(32), { major: 2 });
        b.writeUInt32LE(0xfffffff0, 8);
        return b;
      })(),
      headers: {},
    },
    {
      name: 'NPY header of 5 MB junk',
      body: npy(`{'descr': '<f4', 'shape': (${'9, '.repeat(1_700_000)}`, new Uint8Array(0), {
        major: 2,
      }),
      headers: {},
    },
    {
      name: 'NPY header nested 1,000,000 deep',
      body: npy(`{'descr': '<f4', 'shape': ${'('.repeat(1_000_000)}`, new Uint8Array(0), {
        major: 2,
      }),
      headers: {},
    },
    {
      name: 'NPY header padded to 5 MB (valid)',
      body: npy(`${f32Header('2, 4')}${' '.repeat(5_000_000)}`, new Uint8Array(32), {
        major: 2,
      }),
      headers: {},
      answer: zerosCheck,
    },
    {
      name: 'NPY shape of 4e11 elements',
      body: npy(f32Header('100000000000, 4'), new Uint8Array(32)),
      headers: {},
    },
    {
      name: 'NPY object array (pickle)',
      body: npy("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", junk(64, 1)),
      headers: {},
    },
    { name: 'NPY of binary junk', body: junk(4096, 2), headers: {} },
    { name: 'NPZ of binary junk', body: junk(4096, 3), headers: { 'Content-Type': NPZ } },
    {
      name: 'NPZ declaring 4 GiB',
      body: zipOne('input.npy', junk(100, 4), 0xfffffff0),
      headers: { 'Content-Type': NPZ },
    },
    {
      name: 'NPZ bomb (1 GiB of zeros declared as 1 KiB)',
      body: zipOne('input.npy', bomb, 1024),
      headers: { 'Content-Type': NPZ },
    },
    { name: 'ragged JSON', body: '[[1,2,3,4],[1,2]]', headers: { 'Content-Type': JSON_TYPE } },
    { name: 'JSON of 3 features', body: '[[1,2,3]]', headers: { 'Content-Type': JSON_TYPE } },
    {
      name: 'JSON nested 200,000 deep',
      body: `${'['.repeat(200_000)}${']'.repeat(200_000)}`,
      headers: { 'Content-Type': JSON_TYPE },
    },
    { name: 'JSON cut short', body: '[[5.1, 3.5, 1.4', headers: { 'Content-Type': JSON_TYPE } },
    { name: 'JSON of binary junk', body: junk(4096, 5), headers: { 'Content-Type': JSON_TYPE } },
    { name: 'CSV of words', body: 'a,b,c,d\n', headers: { 'Content-Type': CSV } },
    { name: 'CSV of binary junk', body: junk(4096, 6), headers: { 'Content-Type': CSV } },
    {
      name: 'Content-Type image/png',
      body: junk(512, 7),
      headers: { 'Content-Type': 'image/png' },
    },
    { name: 'no Content-Type', body: junk(64, 8), headers: { 'Content-Type': '' } },
    {
      name: 'Content-Type unparseable',
      body: '1,2,3,4',
      headers: { 'Content-Type': 'text/csv; charset' },
    },
    {
      name: 'NPY body sent as JSON',
      body: good,
      headers: { 'Content-Type': JSON_TYPE },
    },
    {
      name: 'Accept image/png',
      body: '1,2,3,4',
      headers: { 'Content-Type': CSV, Accept: 'image/png' },
    },
    { name: 'empty body', body: '', headers: { 'Content-Type': CSV } },
    { name: 'no body at all', headers: { 'Content-Type': CSV } },
    {
      name: 'body over the limit (7 MB CSV)',
      body: '1,2,3,4\n'.repeat((7 * 1024 * 1024) / 8),
      headers: { 'Content-Type': CSV },
    },
  ].map((c) => {
    // NPY unless the case says otherwise; an empty Content-Type means none at all.
    const headers: Record<string, string> = {
      'Content-Type': NPY,
      Accept: JSON_TYPE,
      ...c.headers,
    };
    if (headers['Content-Type'] === '') delete headers['Content-Type'];
    return { ...c, headers };
  });
  return cases;
}
