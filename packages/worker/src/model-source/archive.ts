import { mkdir } from 'node:fs/promises';
import { isAbsolute, posix, relative, resolve, sep } from 'node:path';
import * as tar from 'tar';

/** A `model.tar.gz` that cannot be unpacked safely; says which entry and why. */
export class UnsafeArchiveError extends Error {
  override readonly name = 'UnsafeArchiveError';
}

function escapes(target: string, path: string): boolean {
  const rel = relative(target, path);
  return rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel);
}

/**
 * Check every entry of an archive before anything is written: no absolute
 * paths, no `..` segments, and no symbolic or hard links that point outside
 * the target directory. node-tar alone would strip or skip such entries with
 * a warning; a model archive with them is refused outright.
 */
async function checkEntries(file: string, target: string): Promise<void> {
  const problems: string[] = [];
  await tar.t({
    file,
    onReadEntry: (entry) => {
      const path = entry.path;
      if (posix.isAbsolute(path) || /^[A-Za-z]:/.test(path)) {
        problems.push(`"${path}" is an absolute path`);
      } else if (path.split(/[\\/]/).includes('..')) {
        problems.push(`"${path}" climbs out with ".."`);
      } else if (entry.type === 'SymbolicLink' || entry.type === 'Link') {
        const link = entry.linkpath ?? '';
        // Symlinks resolve from their own directory; hard links from the archive root.
        const from = entry.type === 'SymbolicLink' ? posix.dirname(path) : '.';
        if (posix.isAbsolute(link) || escapes(target, resolve(target, from, link))) {
          problems.push(`"${path}" links to "${link}", outside the model directory`);
        }
      } else if (!['File', 'OldFile', 'ContiguousFile', 'Directory'].includes(entry.type)) {
        problems.push(`"${path}" is a ${entry.type} entry`);
      }
    },
  });
  if (problems.length > 0) {
    throw new UnsafeArchiveError(
      `refusing to unpack ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
}

/**
 * Unpack a model archive (`.tar.gz` or `.tar`) into `target`, refusing entries
 * that would land outside it.
 *
 * @example
 * ```ts
 * await extractModelArchive('/tmp/model.tar.gz', '/opt/ml/model');
 * ```
 */
export async function extractModelArchive(file: string, target: string): Promise<void> {
  await mkdir(target, { recursive: true });
  await checkEntries(file, resolve(target));
  // strict: any tar warning (a bad header, a checksum) fails the unpack.
  await tar.x({ file, cwd: target, strict: true, preservePaths: false });
}
