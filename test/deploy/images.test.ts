// Static checks of the container images and the compose stack (no Docker engine
// runs here): every file an image copies or runs exists once `pnpm build` has run,
// runtime stages are non-root with a health check, and the compose stack's gateway
// configuration validates.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveGatewayConfig } from '@switchyard/gateway';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const COMPOSE_DIR = join(ROOT, 'deploy/compose');
const DOCKERFILES = ['gateway.Dockerfile', 'worker.Dockerfile', 'worker-cuda.Dockerfile'];
const ENTRYPOINT_SCRIPT = 'deploy/docker/worker-entrypoint.sh';

/** The value, or a thrown error naming what is missing (no non-null assertions). */
function must<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new Error(`missing: ${what}`);
  return value;
}

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  base: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Instructions by stage: comments dropped, `\` continuations joined. */
function parseDockerfile(text: string): Stage[] {
  const lines: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    lines.push(pending + line);
    pending = '';
  }
  const stages: Stage[] = [];
  for (const line of lines) {
    const match = /^(\S+)\s+(.*)$/s.exec(line);
    if (match === null) throw new Error(`unparsable line: ${line}`);
    const keyword = must(match[1], 'keyword').toUpperCase();
    const args = must(match[2], 'arguments').trim();
    if (keyword === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      const base = must(from?.[1], `FROM ${args}`);
      stages.push({ base, name: from?.[2], instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (stage === undefined) throw new Error(`${keyword} before FROM`);
    stage.instructions.push({ keyword, args });
  }
  return stages;
}

/** A JSON-array (exec form) argument list, or the shell form split on spaces. */
function words(args: string): string[] {
  return args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(/\s+/);
}

/** `--flag=value` options, then the rest of a COPY/ADD/HEALTHCHECK line. */
function splitOptions(args: string): { options: Map<string, string>; rest: string } {
  const options = new Map<string, string>();
  let rest = args;
  for (;;) {
    const match = /^--([a-z-]+)(?:=(\S+))?\s+(.*)$/s.exec(rest);
    if (match === null) return { options, rest };
    options.set(must(match[1], 'option'), match[2] ?? '');
    rest = must(match[3], 'rest');
  }
}

/** `node <script>` in a command: the script paths (not `node -e ...`). */
function nodeScripts(command: string[]): string[] {
  const scripts: string[] = [];
  command.forEach((word, i) => {
    const next = command[i + 1];
    if (posix.basename(word) === 'node' && next !== undefined && !next.startsWith('-')) {
      scripts.push(next);
    }
  });
  return scripts;
}

function read(path: string): string {
  return readFileSync(join(ROOT, path), 'utf8');
}

const images = DOCKERFILES.map((file) => {
  const text = read(`deploy/docker/${file}`);
  const stages = parseDockerfile(text);
  const runtime = must(stages.at(-1), `${file}: a stage`);
  const build = must(stages[0], `${file}: a stage`);
  const deploy = build.instructions
    .filter((i) => i.keyword === 'RUN')
    .map((i) => /pnpm --filter (@switchyard\/[a-z-]+) deploy --prod (\/\S+)/.exec(i.args))
    .find((m) => m !== null);
  return { file, text, stages, runtime, build, deploy };
});

const workspacePackages = new Map(
  ['handlers', 'worker', 'gateway'].map((dir) => {
    const manifest = JSON.parse(read(`packages/${dir}/package.json`)) as { name: string };
    return [manifest.name, `packages/${dir}`] as const;
  }),
);

describe.each(images)('$file', ({ file, text, stages, runtime, build, deploy }) => {
  const packageDir =
    deploy === undefined ? undefined : workspacePackages.get(must(deploy[1], 'package'));
  const deployDir = deploy?.[2];
  const workdir = runtime.instructions.findLast((i) => i.keyword === 'WORKDIR')?.args ?? '/';

  /** Where a path of the runtime image comes from in the repository. */
  function repoPathOfRuntimeFile(path: string): string | undefined {
    const absolute = posix.resolve(workdir, path);
    for (const copy of runtime.instructions.filter((i) => i.keyword === 'COPY')) {
      const { options, rest } = splitOptions(copy.args);
      const parts = words(rest);
      const source = must(parts[0], copy.args);
      const target = posix.resolve(workdir, must(parts[1], copy.args));
      if (absolute !== target && !absolute.startsWith(`${target}/`)) continue;
      const inside = absolute.slice(target.length);
      const from = options.get('from');
      if (from === undefined) return `${source}${inside}`;
      if (from === build.name && deployDir !== undefined && source.startsWith(deployDir)) {
        return `${packageDir}${source.slice(deployDir.length)}${inside}`;
      }
      if (from === build.name && source.startsWith('/repo/')) {
        return `${source.slice('/repo/'.length)}${inside}`;
      }
    }
    return undefined;
  }

  it('builds in node:20-bookworm-slim with pnpm 12 and the frozen lockfile', () => {
    expect(build.base).toBe('node:20-bookworm-slim');
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(text).toContain('npm install -g pnpm@12.21.0');
    expect(text).toContain('pnpm install --frozen-lockfile');
    expect(text).toContain('pnpm build');
    expect(packageDir, 'pnpm --filter <workspace package> deploy --prod').toBeDefined();
    const expected = file.startsWith('gateway') ? '@switchyard/gateway' : '@switchyard/worker';
    expect(deploy?.[1]).toBe(expected);
  });

  it('copies only files that exist in the repository or the build stage', () => {
    const missing: string[] = [];
    for (const stage of stages) {
      for (const { keyword, args } of stage.instructions) {
        if (keyword !== 'COPY' && keyword !== 'ADD') continue;
        const { options, rest } = splitOptions(args);
        const parts = words(rest);
        const sources = parts.slice(0, -1);
        const from = options.get('from');
        for (const source of sources) {
          let repoPath: string | undefined;
          if (from === undefined) repoPath = source;
          else if (from === build.name && source.startsWith('/repo/')) {
            repoPath = source.slice('/repo/'.length);
          } else if (from === build.name && deployDir !== undefined) {
            // node_modules of the deployed package is made by `pnpm deploy` itself.
            if (source === `${deployDir}/node_modules`) continue;
            repoPath = `${packageDir}${source.slice(deployDir.length)}`;
          } else if (from.includes(':')) continue; // another image (node's binary)
          if (repoPath === undefined || !existsSync(join(ROOT, repoPath))) {
            missing.push(`${keyword} ${args}`);
          }
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('runs only scripts that pnpm build produces', () => {
    const commands = runtime.instructions
      .filter((i) => ['CMD', 'ENTRYPOINT', 'HEALTHCHECK'].includes(i.keyword))
      .map((i) => {
        const { rest } = splitOptions(i.args);
        return words(i.keyword === 'HEALTHCHECK' ? rest.replace(/^CMD\s+/, '') : rest);
      });
    const entrypoint = runtime.instructions.find((i) => i.keyword === 'ENTRYPOINT');
    expect(entrypoint).toBeDefined();
    const first = must(words(must(entrypoint, 'ENTRYPOINT').args)[0], 'ENTRYPOINT');
    if (first !== 'node') {
      // An entrypoint script: its `node` command counts too.
      const script = repoPathOfRuntimeFile(first);
      expect(script, `${first} is copied into the image`).toBeDefined();
      commands.push(read(must(script, first)).split(/\s+/));
    }
    const scripts = commands.flatMap(nodeScripts);
    expect(scripts.length).toBeGreaterThan(0);
    for (const script of scripts) {
      const repoPath = repoPathOfRuntimeFile(script);
      expect(repoPath, `${script} comes from the build`).toMatch(/^packages\/[a-z]+\/dist\//);
      expect(
        existsSync(join(ROOT, must(repoPath, script))),
        `${repoPath} exists after pnpm build`,
      ).toBe(true);
    }
  });

  it('runs as a non-root user, with a health check and exposed ports', () => {
    const user = runtime.instructions.findLast((i) => i.keyword === 'USER')?.args;
    expect(user).toBeDefined();
    expect(['root', '0', '0:0']).not.toContain(user);
    const healthcheck = runtime.instructions.find((i) => i.keyword === 'HEALTHCHECK');
    expect(healthcheck?.args).toMatch(file.startsWith('gateway') ? /\/health\/ready/ : /9464/);
    expect(runtime.instructions.some((i) => i.keyword === 'EXPOSE')).toBe(true);
  });

  it('installs the CUDA provider in the CUDA image only', () => {
    const cuda = /ONNXRUNTIME_NODE_INSTALL(_CUDA)?=(cuda12|v12)/.test(text);
    expect(cuda).toBe(file === 'worker-cuda.Dockerfile');
    if (cuda) {
      expect(runtime.base).toMatch(/^nvidia\/cuda:12\.[\d.]+-cudnn-runtime-ubuntu22\.04$/);
      expect(text).toContain('SWITCHYARD_DEVICE=cuda');
    } else {
      expect(text).toContain('ONNXRUNTIME_NODE_INSTALL=skip');
    }
  });

  it('has a BuildKit ignore file beside it that keeps what it copies', () => {
    const ignore = read(`deploy/docker/${file}.dockerignore`);
    const patterns = ignore.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
    expect(patterns).toContain('**/node_modules');
    expect(patterns.some((p) => p.startsWith('deploy') || p === 'packages')).toBe(false);
  });
});

describe('worker entrypoint', () => {
  const path = join(ROOT, ENTRYPOINT_SCRIPT);

  it('is executable and parses', () => {
    expect(statSync(path).mode & 0o111).toBe(0o111);
    execFileSync('bash', ['-n', path]);
  });

  /** Run the script with a `node` on PATH that prints its arguments. */
  function argsOf(args: string[], env: Record<string, string> = {}): string[] {
    const bin = mkdtempSync(join(tmpdir(), 'entrypoint-'));
    writeFileSync(join(bin, 'node'), '#!/bin/sh\nprintf "%s\\n" "$@"\n');
    chmodSync(join(bin, 'node'), 0o755);
    const env0 = { PATH: `${bin}:${process.env['PATH'] ?? ''}`, ...env };
    const out = execFileSync('bash', [path, ...args], { env: env0, encoding: 'utf8' });
    return out.split('\n').filter((l) => l !== '');
  }

  it('consumes a queue by default and serves SageMaker with `serve`', () => {
    expect(argsOf([])).toEqual(['/app/dist/cli.js', '--model', '/opt/ml/model']);
    expect(argsOf(['serve'])).toEqual(['/app/dist/cli.js', 'serve', '--model', '/opt/ml/model']);
    expect(argsOf(['--queue', 'q'], { SWITCHYARD_MODEL: '/m' })).toEqual([
      '/app/dist/cli.js',
      '--model',
      '/m',
      '--queue',
      'q',
    ]);
    expect(argsOf(['serve', '--model', 's3://b/k'])).toEqual([
      '/app/dist/cli.js',
      'serve',
      '--model',
      's3://b/k',
    ]);
  });
});

describe('compose stack', () => {
  interface Service {
    image?: string;
    command?: string[];
    build?: { context: string; dockerfile: string };
    volumes?: string[];
    environment?: Record<string, string>;
    depends_on?: Record<string, { condition: string }>;
  }
  const compose = parseYaml(read('deploy/compose/compose.yaml')) as {
    services: Record<string, Service>;
  };
  const { redis, gateway, worker } = compose.services;

  it('runs Redis as BullMQ needs it: AOF on, noeviction, a volume and a health check', () => {
    const command = redis?.command?.join(' ') ?? '';
    expect(redis?.image).toMatch(/^redis:7/);
    expect(command).toContain('--appendonly yes');
    expect(command).toContain('--maxmemory-policy noeviction');
    expect(redis?.volumes?.some((v) => v.endsWith(':/data'))).toBe(true);
    expect(compose.services['redis']).toHaveProperty('healthcheck');
  });

  it('builds every image from a Dockerfile that exists, with the repository as context', () => {
    for (const service of [must(gateway, 'gateway'), must(worker, 'worker')]) {
      const build = must(service.build, 'build');
      const context = resolve(COMPOSE_DIR, build.context);
      expect(`${context}/`).toBe(ROOT);
      expect(existsSync(join(context, build.dockerfile))).toBe(true);
      expect(service.depends_on?.['redis']?.condition).toBe('service_healthy');
    }
  });

  it('mounts a gateway configuration that validates and names the worker queue', () => {
    const volumes = must(gateway?.volumes, 'gateway volumes');
    const mount = must(
      volumes.find((v) => v.endsWith(':ro')),
      'a read-only mount',
    );
    const [source, target] = mount.split(':');
    expect(gateway?.environment?.['SWITCHYARD_CONFIG']).toBe(target);
    const file = resolve(COMPOSE_DIR, must(source, mount));
    const config = resolveGatewayConfig(parseYaml(readFileSync(file, 'utf8')), file);
    expect(config.redis?.url).toBe('redis://redis:6379');
    const storage = config.storage.url;
    expect(volumes.some((v) => !v.startsWith('.') && v.endsWith(`:${storage}`))).toBe(true);
    const queues = Object.values(config.models).flatMap((m) =>
      Object.values(m.variants).map((v) => (v.backend.type === 'queue' ? v.backend.queue : '')),
    );
    const command = must(worker?.command, 'worker command');
    expect(queues).toContain(command[command.indexOf('--queue') + 1]);
    expect(worker?.environment?.['REDIS_URL']).toBe(config.redis?.url);
  });

  it('passes the worker only flags its CLI knows', () => {
    const help = execFileSync('node', [join(ROOT, 'packages/worker/dist/cli.js'), '--help'], {
      encoding: 'utf8',
    });
    for (const flag of must(worker?.command, 'worker command').filter((w) => w.startsWith('--'))) {
      expect(help).toContain(`${flag} `);
    }
  });
});
