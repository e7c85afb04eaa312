#!/usr/bin/env node
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { serve } from '@hono/node-server';
import {
  createObjectStore,
  memoryDeploymentStore,
  redisDeploymentStore,
  startTracing,
} from '@switchyard/worker';
import { Traffic } from './console/traffic.js';
import { Deployments } from './deploy/deployments.js';
import { pino } from 'pino';
import { ConfigError, embeddedDefaultConfig, loadGatewayConfig } from './config/load.js';
import { createApp } from './http/app.js';
import { closeRegistry, createModelRegistry } from './http/model-registry.js';
import { startJobs } from './jobs/index.js';
import { createGatewayMetrics } from './metrics.js';
import { startPolicies } from './policy/index.js';
import { startWeightSync } from './routing/weight-sync.js';

const HELP = `switchyard-gateway: the Switchyard inference gateway.

Usage:
  switchyard-gateway [--config FILE] [--port N]

  --config FILE   YAML or JSON configuration (env SWITCHYARD_CONFIG). Without one the
                  embedded default serves the example model "iris" (variants v1, v2 at
                  50/50) in this process: no Redis, no AWS.
  --port N        listen port (env PORT; default 8080, or the configuration's server.port)
  --help          this text

Tracing: the standard OTEL_* variables (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_EXPORTER,
OTEL_SERVICE_NAME, ...) start the OpenTelemetry SDK; without them, or with
OTEL_SDK_DISABLED=true, there is none.`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { config: { type: 'string' }, port: { type: 'string' }, help: { type: 'boolean' } },
    strict: true,
  });
  if (values.help === true) {
    console.log(HELP);
    return;
  }
  const configFile = values.config ?? process.env['SWITCHYARD_CONFIG'];
  const portText = values.port ?? process.env['PORT'];
  const config =
    configFile === undefined
      ? embeddedDefaultConfig(Number(portText ?? 8080))
      : await loadGatewayConfig(configFile);
  const port = portText === undefined ? config.server.port : Number(portText);
  // Asynchronous writes: lines logged while one write is in flight go out together
  // in the next (a request log line each is one write syscall otherwise); pino
  // flushes what is left when the process exits.
  const logger = pino(
    { base: { service: 'switchyard-gateway' } },
    pino.destination({ dest: 1, sync: false }),
  );
  const tracing = await startTracing('switchyard-gateway');
  const models = await createModelRegistry(config, logger);
  const weights =
    config.redis === undefined
      ? undefined
      : await startWeightSync(models, config.redis.url, logger);
  const jobs = startJobs(config, models, logger);
  const deployments = await Deployments.start({
    registry: models,
    config,
    store:
      config.redis === undefined
        ? memoryDeploymentStore()
        : redisDeploymentStore(config.redis.url, config.redis.namespace),
    artifacts: createObjectStore(config.storage.url, {
      s3Endpoint: config.storage.s3Endpoint,
      s3Region: config.storage.s3Region,
    }),
    logger,
    maxArtifactBytes: config.deployments.maxArchiveBytes,
  });
  const policies = startPolicies(config, logger);
  const app = createApp({
    models,
    logger,
    jobs,
    metrics: createGatewayMetrics(models),
    deployments,
    traffic: new Traffic(),
    maxArtifactBytes: config.deployments.maxArchiveBytes,
    ...(weights === undefined ? {} : { weights }),
    keys: policies.keys,
    limiter: policies.limiter,
    rateLimits: policies.rateLimits,
  });
  const server = serve({ fetch: app.fetch, port }, (info: AddressInfo) => {
    logger.info(
      { port: info.port, models: [...models.keys()], config: configFile ?? 'embedded default' },
      'gateway ready',
    );
    const [first] = models.keys();
    if (first !== undefined) {
      console.log(
        `\nTry it:\n  curl -s localhost:${info.port}/endpoints/${first}/invocations \\\n` +
          `    -H 'Content-Type: text/csv' -H 'Accept: application/json' \\\n` +
          `    --data-binary $'5.1,3.5,1.4,0.2\\n6.3,3.3,6.0,2.5' -i\n` +
          `\nConsole: http://localhost:${info.port}/console\n`,
      );
    }
  });
  const stop = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'stopping');
    server.close(() => {
      // Background tasks first (a batch job stops where it can resume), then backends.
      void jobs
        .close()
        .then(() => deployments.close())
        .then(() => Promise.all([closeRegistry(models), weights?.close(), policies.close()]))
        // Spans still buffered go out before the process ends.
        .then(() => tracing?.shutdown())
        .then(() => process.exit(0));
    });
  };
  process.once('SIGTERM', stop).once('SIGINT', stop);
}

main().catch((error: unknown) => {
  console.error(`switchyard-gateway: ${error instanceof Error ? error.message : String(error)}`);
  if (!(error instanceof ConfigError)) console.error('run with --help for usage');
  process.exit(2);
});
