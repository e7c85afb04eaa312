#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { Gauge } from 'prom-client';
import {
  ConfigError,
  resolveWorkerConfig,
  type ResolvedWorkerConfig,
  type WorkerOptions,
} from './config.js';
import { createLogger } from './logger.js';
import { resolveModelSource } from './model-source/resolve-source.js';
import { createWorkerMetrics, instrument } from './metrics.js';
import { startQueueConsumer } from './queue/consumer.js';
import { createObjectStore } from './storage/object-store.js';
import { createOpsApp, listen, serveSageMaker } from './server/sagemaker-server.js';
import { startModelHost, type ModelHost } from './runtime/model-host.js';
import { startMultiModelWorker } from './registry/multi-model.js';
import { startTracing } from './tracing.js';

const HELP = `switchyard-worker: serve an ONNX model behind the SageMaker handler chain.

Usage:
  switchyard-worker --model SRC [--queue NAME] [options]   consume a BullMQ queue (REDIS_URL)
  switchyard-worker [--pool NAME] [options]                 multi-model: serve the variants deployed to a pool
  switchyard-worker serve --model SRC [--port N] [options]  SageMaker container: GET /ping, POST /invocations

Model:
  --model SRC               a model directory in SageMaker's layout (model.onnx, optional code/inference.mjs,
                            code/package.json), a model.tar.gz, or s3://bucket/key to a model.tar.gz
  --s3-endpoint URL         S3-compatible endpoint for s3:// sources and storage (env AWS_ENDPOINT_URL_S3)
  --storage URL             the gateway's object store (its storage.url), to read large bodies that
                            jobs name by location (env SWITCHYARD_STORAGE)
  --skip-install-deps       fail instead of installing missing code/package.json dependencies
  --model-name NAME         name in logs and metrics (default: the directory's name)
  --variant NAME            production variant this worker serves
  --device cpu|cuda         execution provider; cuda falls back to cpu with a warning (env SWITCHYARD_DEVICE)
  --device-id N             GPU ordinal for cuda (default 0)
  --threads N               threads per operator, 0 = one per core (default 0)
  --graph-optimization L    disabled | basic | extended | all (default all)
  --default-accept TYPE     answer type for requests without Accept (default application/json;
                            env SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT)
Multi-model (no --model):
  --pool NAME               serve the queue variants deployed to this pool (default default)
  --namespace NS            the gateway's redis.namespace (default switchyard; env SWITCHYARD_NAMESPACE)
  --memory-budget-mb N      most MiB of model files loaded at once; least recently used models are
                            unloaded to make room (default half the machine's memory)
  --max-models N            most models loaded at once
Batching:
  --max-batch-size N        most rows per batch (default 32)
  --max-delay-ms N          longest an idle model waits to fill a batch (default 0)
Queue (default command):
  --queue NAME              BullMQ queue (default switchyard-<model name>)
  --concurrency N           jobs in flight (default 2 x max batch size)
  --lock-duration-ms N      BullMQ job lock (default 30000)
  --stalled-interval-ms N   how often stalled jobs of dead workers are taken back (default 30000)
  --result-ttl-ms N         how long results stay on finished jobs (default 60000)
  --metrics-port N          GET /health and GET /metrics (default 9464; 0 picks a free port)
Server (serve):
  --port N                  listen port (default 8080; env SAGEMAKER_BIND_TO_PORT); also serves GET /metrics

  --help                    this text

Tracing: the standard OTEL_* variables (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_EXPORTER,
OTEL_SERVICE_NAME, ...) start the OpenTelemetry SDK; without them, or with
OTEL_SDK_DISABLED=true, there is none.

SIGTERM stops taking work, finishes what is in flight, and exits 0.`;

const flags = {
  model: { type: 'string' },
  's3-endpoint': { type: 'string' },
  storage: { type: 'string' },
  'skip-install-deps': { type: 'boolean' },
  'model-name': { type: 'string' },
  variant: { type: 'string' },
  device: { type: 'string' },
  'device-id': { type: 'string' },
  threads: { type: 'string' },
  'graph-optimization': { type: 'string' },
  'default-accept': { type: 'string' },
  'max-batch-size': { type: 'string' },
  'max-delay-ms': { type: 'string' },
  queue: { type: 'string' },
  pool: { type: 'string' },
  namespace: { type: 'string' },
  'memory-budget-mb': { type: 'string' },
  'max-models': { type: 'string' },
  concurrency: { type: 'string' },
  'lock-duration-ms': { type: 'string' },
  'stalled-interval-ms': { type: 'string' },
  'result-ttl-ms': { type: 'string' },
  port: { type: 'string' },
  'metrics-port': { type: 'string' },
  help: { type: 'boolean' },
} as const;

function toOptions(values: Record<string, string | boolean | undefined>): WorkerOptions {
  const num = (name: string) =>
    typeof values[name] === 'string' ? Number(values[name]) : undefined;
  const str = (name: string) => (typeof values[name] === 'string' ? values[name] : undefined);
  const entries = {
    model: str('model'),
    s3Endpoint: str('s3-endpoint'),
    storage: str('storage'),
    installDependencies: values['skip-install-deps'] === true ? false : undefined,
    modelName: str('model-name'),
    variant: str('variant'),
    executionProvider: str('device') as 'cpu' | 'cuda' | undefined,
    deviceId: num('device-id'),
    intraOpThreads: num('threads'),
    graphOptimization: str('graph-optimization') as WorkerOptions['graphOptimization'],
    defaultAccept: str('default-accept'),
    maxBatchSize: num('max-batch-size'),
    maxDelayMs: num('max-delay-ms'),
    queue: str('queue'),
    pool: str('pool'),
    namespace: str('namespace'),
    memoryBudgetMb: num('memory-budget-mb'),
    maxModels: num('max-models'),
    concurrency: num('concurrency'),
    lockDurationMs: num('lock-duration-ms'),
    stalledIntervalMs: num('stalled-interval-ms'),
    resultTtlMs: num('result-ttl-ms'),
    port: num('port'),
    metricsPort: num('metrics-port'),
  };
  return Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== undefined));
}

/** The session options of every model this worker loads. */
const onnxOptions = (config: ResolvedWorkerConfig) => ({
  executionProvider: config.executionProvider,
  deviceId: config.deviceId,
  intraOpNumThreads: config.intraOpThreads,
  graphOptimizationLevel: config.graphOptimization,
});

/** What every queue consumer of this worker shares. */
const queueSettings = (config: ResolvedWorkerConfig) => ({
  concurrency: config.concurrency,
  lockDurationMs: config.lockDurationMs,
  stalledIntervalMs: config.stalledIntervalMs,
  resultTtlMs: config.resultTtlMs,
  ...(config.storage === undefined
    ? {}
    : { store: createObjectStore(config.storage, { s3Endpoint: config.s3Endpoint }) }),
});

async function startHost(
  config: ResolvedWorkerConfig,
  logger: ReturnType<typeof createLogger>,
): Promise<ModelHost> {
  const modelDir = await resolveModelSource(config.model, {
    ...(config.s3Endpoint === undefined ? {} : { s3Endpoint: config.s3Endpoint }),
  });
  return startModelHost({
    modelDir,
    installDependencies: config.installDependencies,
    modelName: config.modelName,
    variant: config.variant,
    onnx: onnxOptions(config),
    batching: { maxBatchSize: config.maxBatchSize, maxDelayMs: config.maxDelayMs },
    defaultAccept: config.defaultAccept,
    logger,
    // A worker without its model is no worker: exit, so the orchestrator restarts it.
    onUnexpectedExit: (code) => {
      logger.error({ code }, 'model thread died; exiting');
      process.exit(1);
    },
  });
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: flags,
    allowPositionals: true,
    strict: true,
  });
  const command = positionals[0] ?? 'consume';
  if (values.help === true) {
    console.log(HELP);
    return;
  }
  if (command !== 'consume' && command !== 'serve') {
    throw new ConfigError([
      `unknown command "${command}": use serve, or no command to consume a queue`,
    ]);
  }
  const config = resolveWorkerConfig(toOptions(values));
  if (config.model === '' && command === 'serve') {
    throw new ConfigError(['serve needs --model: a SageMaker container serves one model']);
  }
  const logger = createLogger();
  const tracing = await startTracing('switchyard-worker');
  if (config.model === '') {
    await consumeDeployments(config, logger, async () => tracing?.shutdown());
    return;
  }
  const host = await startHost(config, logger);
  const metrics = createWorkerMetrics({ model: config.modelName, variant: config.variant });
  const runtime = instrument(host, metrics);
  logger.info(
    { model: host.info, queue: command === 'consume' ? config.queue : undefined },
    'model ready',
  );

  let stopping: Promise<void> | undefined;
  const stopWith = (stop: () => Promise<void>) => (signal: NodeJS.Signals) => {
    stopping ??= (async () => {
      logger.info({ signal }, 'stopping: finishing work in flight');
      await stop();
      await host.close();
      // Spans still buffered go out before the process ends.
      await tracing?.shutdown();
      logger.info('stopped');
      process.exit(0);
    })();
  };

  if (command === 'serve') {
    const server = await serveSageMaker({ host: runtime, port: config.port, logger, metrics });
    logger.info({ port: server.port }, 'SageMaker container server listening');
    const stop = stopWith(() => server.close());
    process.once('SIGTERM', stop).once('SIGINT', stop);
    return;
  }
  const consumer = startQueueConsumer({
    redisUrl: config.redisUrl,
    queue: config.queue,
    runtime,
    logger,
    ...queueSettings(config),
  });
  await consumer.worker.waitUntilReady();
  const ops = await listen(
    createOpsApp({ ready: () => host.alive && consumer.worker.isRunning(), metrics }),
    config.metricsPort,
  );
  logger.info(
    { queue: config.queue, concurrency: config.concurrency, metricsPort: ops.port },
    'consuming',
  );
  const stop = stopWith(async () => {
    await consumer.close();
    await ops.close();
  });
  process.once('SIGTERM', stop).once('SIGINT', stop);
}

/** A worker with no model of its own: the variants deployed to its pool. */
async function consumeDeployments(
  config: ResolvedWorkerConfig,
  logger: ReturnType<typeof createLogger>,
  shutdown: () => Promise<void>,
): Promise<void> {
  // Each result is labelled with the model and variant that answered it.
  const metrics = createWorkerMetrics({ model: '', variant: '' });
  const worker = await startMultiModelWorker({
    redisUrl: config.redisUrl,
    namespace: config.namespace,
    pool: config.pool,
    budgetBytes: config.memoryBudgetMb * 1024 * 1024,
    maxModels: config.maxModels,
    onnx: onnxOptions(config),
    defaultAccept: config.defaultAccept,
    installDependencies: config.installDependencies,
    s3Endpoint: config.s3Endpoint,
    ...queueSettings(config),
    logger,
    instrument: (runtime) =>
      instrument(runtime, metrics, {
        model: runtime.info.modelName,
        variant: runtime.info.variant ?? '',
      }),
  });
  // What the memory budget holds, read at each scrape.
  new Gauge({
    name: 'switchyard_worker_models_loaded',
    help: 'Models loaded (or loading) in this multi-model worker',
    registers: [metrics.registry],
    collect() {
      this.set(worker.loaded().length);
    },
  });
  new Gauge({
    name: 'switchyard_worker_model_bytes',
    help: "Bytes of model files held against the worker's memory budget",
    registers: [metrics.registry],
    collect() {
      this.set(worker.loaded().reduce((sum, m) => sum + m.bytes, 0));
    },
  });
  new Gauge({
    name: 'switchyard_worker_model_budget_bytes',
    help: "The worker's memory budget (--memory-budget-mb)",
    registers: [metrics.registry],
  }).set(config.memoryBudgetMb * 1024 * 1024);
  const ops = createOpsApp({ ready: () => worker.ready(), metrics });
  ops.get('/models', (c) => c.json({ variants: worker.variants(), loaded: worker.loaded() }));
  const server = await listen(ops, config.metricsPort);
  logger.info(
    {
      pool: config.pool,
      namespace: config.namespace,
      memoryBudgetMb: config.memoryBudgetMb,
      metricsPort: server.port,
    },
    'consuming',
  );
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: finishing work in flight');
    void (async () => {
      await worker.close();
      await server.close();
      await shutdown();
      logger.info('stopped');
      process.exit(0);
    })();
  };
  process.once('SIGTERM', stop).once('SIGINT', stop);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`switchyard-worker: ${message}`);
  if (!(error instanceof ConfigError)) console.error('run with --help for usage');
  process.exit(2);
});
