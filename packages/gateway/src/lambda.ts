/* eslint-disable @typescript-eslint/no-deprecated --
 * Hono 4.13 marks `hono/aws-lambda` deprecated in favour of a separate
 * `@hono/aws-lambda` package (removed from `hono` in v5); the adapter here is the
 * same code and needs no further dependency until then. */
import { parseMediaType, type HandlerLogger } from '@switchyard/handlers';
import {
  handle,
  type APIGatewayProxyResult,
  type LambdaContext,
  type LambdaEvent,
} from 'hono/aws-lambda';
import { pino } from 'pino';
import { ConfigError, loadGatewayConfig, resolveGatewayConfig } from './config/load.js';
import type { GatewayConfig } from './config/schema.js';
import { createApp } from './http/app.js';
import { closeRegistry, createModelRegistry, type ModelRegistry } from './http/model-registry.js';
import { createGatewayMetrics } from './metrics.js';
import { startPolicies, type Policies } from './policy/index.js';

export interface LambdaHandlerOptions {
  /** Where logs go; default pino, JSON lines on stdout (CloudWatch). */
  readonly logger?: HandlerLogger;
}

/** A Lambda handler for API Gateway (REST and HTTP API), ALB and function URL events. */
export interface LambdaHandler {
  (event: LambdaEvent, context?: LambdaContext): Promise<APIGatewayProxyResult>;
  /** Stop the backends (model threads, connections); the next invocation starts them again. */
  close(): Promise<void>;
}

/**
 * Which responses go back base64-encoded. Hono's default calls everything binary
 * except a few text types, JSON and XML, so JSON Lines, NDJSON and `text/*`
 * (event streams included) would travel as base64; here every text-like type goes
 * as text and everything else — NPY, NPZ, octet streams, anything unparseable — as
 * base64, so the bytes arrive exactly as the model wrote them.
 */
function isContentTypeBinary(contentType: string): boolean {
  const media = parseMediaType(contentType);
  if (media === undefined) return true;
  if (media.type === 'text') return false;
  return !/(?:^|\+|-)(?:json|jsonl|jsonlines|ndjson|xml)$/.test(media.subtype);
}

function lambdaHandler(
  loadConfig: () => Promise<GatewayConfig>,
  options: LambdaHandlerOptions,
): LambdaHandler {
  const logger = options.logger ?? pino({ base: { service: 'switchyard-gateway' } });
  let started:
    | Promise<{ models: ModelRegistry; policies: Policies; invoke: ReturnType<typeof handle> }>
    | undefined;
  const start = async () => {
    const config = await loadConfig();
    const models = await createModelRegistry(config, logger);
    // No `jobs`: async inference and batch jobs need work that outlives a request,
    // which a Lambda container frozen between invocations cannot do.
    // Keys and rate limits as in main.ts (in Redis when configured, so containers
    // share them; without Redis, each container has its own buckets).
    const policies = startPolicies(config, logger);
    const app = createApp({
      models,
      logger,
      metrics: createGatewayMetrics(models),
      keys: policies.keys,
      limiter: policies.limiter,
      rateLimits: policies.rateLimits,
    });
    logger.info({ models: [...models.keys()] }, 'gateway ready (lambda)');
    return { models, policies, invoke: handle(app, { isContentTypeBinary }) };
  };
  const handler = async (event: LambdaEvent, context?: LambdaContext) => {
    // Once per container, shared by every invocation; a failed start is tried again
    // by the next invocation instead of failing the container for good.
    started ??= start().catch((error: unknown) => {
      started = undefined;
      throw error;
    });
    const { invoke } = await started;
    return invoke(event, context);
  };
  return Object.assign(handler, {
    close: async () => {
      const running = started;
      started = undefined;
      if (running === undefined) return;
      const { models, policies } = await running;
      await policies.close();
      await closeRegistry(models);
    },
  });
}

/**
 * A Lambda handler serving `config`: the model registry and the app are built on
 * the first invocation and reused by the following ones.
 *
 * @example
 * ```ts
 * export const handler = createLambdaHandler(resolveGatewayConfig(myConfig));
 * ```
 */
export function createLambdaHandler(
  config: GatewayConfig,
  options: LambdaHandlerOptions = {},
): LambdaHandler {
  return lambdaHandler(() => Promise.resolve(config), options);
}

/** Where the environment says the configuration is; neither variable set is an error. */
function configSource(): { file: string } | { json: string } {
  const file = process.env['SWITCHYARD_CONFIG'];
  if (file !== undefined && file !== '') return { file };
  const json = process.env['SWITCHYARD_CONFIG_JSON'];
  if (json !== undefined && json !== '') return { json };
  throw new ConfigError('for Lambda', [
    'neither SWITCHYARD_CONFIG nor SWITCHYARD_CONFIG_JSON is set: set SWITCHYARD_CONFIG ' +
      'to the path of a YAML or JSON file, or SWITCHYARD_CONFIG_JSON to the configuration as JSON',
  ]);
}

async function configFromEnv(): Promise<GatewayConfig> {
  const source = configSource();
  if ('file' in source) {
    return loadGatewayConfig(source.file, { redisUrl: process.env['REDIS_URL'] });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(source.json);
  } catch (error) {
    throw new ConfigError('SWITCHYARD_CONFIG_JSON', [
      `not valid JSON: ${(error as Error).message}`,
    ]);
  }
  return resolveGatewayConfig(raw, 'SWITCHYARD_CONFIG_JSON');
}

// On Lambda a missing configuration fails the container's init, before any traffic;
// anywhere else (tests importing `createLambdaHandler`) only an invocation reports it.
if (process.env['AWS_LAMBDA_FUNCTION_NAME'] !== undefined) configSource();

/**
 * The Lambda entry point (`@switchyard/gateway/lambda`, export `handler`), configured
 * by `SWITCHYARD_CONFIG` (a file) or `SWITCHYARD_CONFIG_JSON` (inline JSON). The
 * registry and app are built by the container's first invocation and reused.
 */
export const handler: LambdaHandler = lambdaHandler(configFromEnv, {});
