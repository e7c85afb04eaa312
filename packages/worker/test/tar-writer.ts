import { gzipSync } from 'node:zlib';

/** One entry of a hand-made archive: tests need entries node-tar would never write. */
export interface RawEntry {
  readonly path: string;
  readonly type?: 'file' | 'dir' | 'symlink' | 'hardlink';
  readonly content?: string | Uint8Array;
  readonly link?: string;
}

const TYPE_FLAG = { file: '0', hardlink: '1', symlink: '2', dir: '5' } as const;

function field(header: Uint8Array, offset: number, length: number, value: string): void {
  header.set(new TextEncoder().encode(value).subarray(0, length), offset);
}

/** A gzipped ustar archive holding exactly the given entries, paths as written. */
export function makeTarGz(entries: readonly RawEntry[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    const body =
      typeof entry.content === 'string'
        ? new TextEncoder().encode(entry.content)
        : (entry.content ?? new Uint8Array());
    const header = new Uint8Array(512);
    field(header, 0, 100, entry.path);
    field(header, 100, 8, type === 'dir' ? '0000755\0' : '0000644\0');
    field(header, 108, 8, '0000000\0');
    field(header, 116, 8, '0000000\0');
    field(header, 124, 12, `${body.length.toString(8).padStart(11, '0')}\0`);
    field(
      header,
      136,
      12,
      `${Math.floor(Date.now() / 1000)
        .toString(8)
        .padStart(11, '0')}\0`,
    );
    field(header, 148, 8, '        ');
    field(header, 156, 1, TYPE_FLAG[type]);
    field(header, 157, 100, entry.link ?? '');
    field(header, 257, 6, 'ustar\0');
    field(header, 263, 2, '00');
    const sum = header.reduce((a, b) => a + b, 0);
    field(header, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
    blocks.push(header, body, new Uint8Array((512 - (body.length % 512)) % 512));
  }
  blocks.push(new Uint8Array(1024));
  const total = blocks.reduce((n, b) => n + b.length, 0);
  const tar = new Uint8Array(total);
  let offset = 0;
  for (const b of blocks) {
    tar.set(b, offset);
    offset += b.length;
  }
  return gzipSync(tar);
}
