import { createDeflateRaw } from 'node:zlib';

/** An NPY file with a given header text (padded as numpy pads it unless `raw`). */
export function npy(
  header: string,
  data: Uint8Array,
  options: { major?: 1 | 2; raw?: boolean } = {},
): Buffer {
  const major = options.major ?? 1;
  const prefix = major === 1 ? 10 : 12;
  let text = header;
  if (options.raw !== true) {
    while ((prefix + text.length + 1) % 64 !== 0) text += ' ';
    text += '\n';
  }
  const head = Buffer.alloc(prefix);
  Buffer.from('\x93NUMPY', 'latin1').copy(head);
  head[6] = major;
  head[7] = 0;
  const bytes = Buffer.from(text, 'latin1');
  if (major === 1) head.writeUInt16LE(bytes.length, 8);
  else head.writeUInt32LE(bytes.length, 8);
  return Buffer.concat([head, bytes, data]);
}

/** The header dictionary numpy writes for a little-endian float32 array. */
export const f32Header = (shape: string): string =>
  `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape}), }`;

/** A float32 NPY array of `rows` (C order). */
export function npyRows(rows: readonly (readonly number[])[]): Buffer {
  const data = new Float32Array(rows.flat());
  return npy(f32Header(`${rows.length}, ${rows[0]?.length ?? 0}`), new Uint8Array(data.buffer));
}

/** `n` bytes of seeded noise: the same junk on every run. */
export function junk(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1_103_515_245) + 12_345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/**
 * A one-entry zip archive (deflate) whose directory declares `declared` bytes
 * uncompressed: with `declared` below the real size, a zip bomb that lies.
 */
export function zipOne(name: string, deflated: Uint8Array, declared: number): Buffer {
  const n = Buffer.from(name);
  // The local header and the central directory entry hold the same fields; the
  // entry has a "version made by" first, which moves the rest 2 bytes on.
  const header = (signature: number, size: number, shift: 0 | 2): Buffer => {
    const b = Buffer.alloc(size);
    b.writeUInt32LE(signature, 0);
    if (shift === 2) b.writeUInt16LE(20, 4);
    b.writeUInt16LE(20, 4 + shift);
    b.writeUInt16LE(8, 8 + shift);
    b.writeUInt32LE(deflated.length, 18 + shift);
    b.writeUInt32LE(declared, 22 + shift);
    b.writeUInt16LE(n.length, 26 + shift);
    return b;
  };
  const local = header(0x04034b50, 30, 0);
  const central = header(0x02014b50, 46, 2);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(46 + n.length, 12);
  end.writeUInt32LE(30 + n.length + deflated.length, 16);
  return Buffer.concat([local, n, deflated, central, n, end]);
}

/** `total` zero bytes, deflated without ever holding them all. */
export async function deflatedZeros(total: number): Promise<Buffer> {
  const deflate = createDeflateRaw({ level: 9 });
  const out: Buffer[] = [];
  deflate.on('data', (chunk: Buffer) => out.push(chunk));
  const ended = new Promise<void>((resolve) =>
    deflate.once('end', () => {
      resolve();
    }),
  );
  const zeros = Buffer.alloc(16 * 1024 * 1024);
  for (let written = 0; written < total; written += zeros.length) {
    if (!deflate.write(zeros)) {
      await new Promise<void>((resolve) =>
        deflate.once('drain', () => {
          resolve();
        }),
      );
    }
  }
  deflate.end();
  await ended;
  return Buffer.concat(out);
}
