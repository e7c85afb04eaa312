import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { gatewayConfigSchema, type GatewayConfig } from './schema.js';

/** A configuration that cannot be used, with every problem and where it is. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    source: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid configuration ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

function formatIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
  return `${path === '' ? '(top level)' : path.slice(path.startsWith('.') ? 1 : 0)}: ${issue.message}`;
}

/** Validate a parsed configuration object, listing every problem with its path. */
export function resolveGatewayConfig(raw: unknown, source = 'configuration'): GatewayConfig {
  const parsed = gatewayConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(source, parsed.error.issues.map(formatIssue));
  return parsed.data;
}

/**
 * Read a YAML or JSON configuration file (JSON is YAML too) and validate it;
 * `redisUrl` (from `REDIS_URL`) stands in for a missing `redis.url`.
 */
export async function loadGatewayConfig(
  file: string,
  fallbacks: { redisUrl?: string | undefined } = {},
): Promise<GatewayConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [`cannot read the file: ${(error as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new ConfigError(file, [`not valid YAML or JSON: ${(error as Error).message}`]);
  }
  if (
    fallbacks.redisUrl !== undefined &&
    typeof raw === 'object' &&
    raw !== null &&
    !('redis' in raw)
  ) {
    raw = { ...raw, redis: { url: fallbacks.redisUrl } };
  }
  return resolveGatewayConfig(raw, file);
}

const EXAMPLES = fileURLToPath(new URL('../../../../examples/models/', import.meta.url));

/**
 * The embedded default: the example `iris` model, variants v1 and v2 at 50/50,
 * in this process — no Redis, no AWS.
 */
export function embeddedDefaultConfig(port: number): GatewayConfig {
  return resolveGatewayConfig(
    {
      server: { port },
      models: {
        iris: {
          stickyHeader: 'X-User-Id',
          variants: {
            v1: { weight: 50, backend: { type: 'local', model: `${EXAMPLES}iris-v1` } },
            v2: { weight: 50, backend: { type: 'local', model: `${EXAMPLES}iris-v2` } },
          },
        },
      },
    },
    'embedded default',
  );
}
