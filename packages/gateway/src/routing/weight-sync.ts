import type { HandlerLogger } from '@switchyard/handlers';
import { Redis } from 'ioredis';
import type { ModelRegistry } from '../http/model-registry.js';

const CHANNEL = 'switchyard:weights';
const key = (model: string) => `switchyard:weights:${model}`;

/** Shares weight changes between gateway replicas. */
export interface WeightSync {
  /** Store new weights for a model and tell every replica. */
  publish(model: string, weights: Readonly<Record<string, number>>): Promise<void>;
  close(): Promise<void>;
}

function apply(registry: ModelRegistry, model: string, stored: Record<string, string>): void {
  const state = registry.get(model);
  if (state === undefined) return;
  for (const [variant, text] of Object.entries(stored)) {
    const weight = Number(text);
    const v = state.variants.get(variant);
    // A registered variant's weight lives in its deployment record.
    if (v !== undefined && v.deployment === undefined && Number.isFinite(weight) && weight >= 0) {
      v.weight = weight;
    }
  }
}

/**
 * Keep the registry's weights in Redis: a hash per model holds the current split,
 * a pub/sub message makes every replica re-read it at once, and a re-read every
 * `pollMs` covers messages missed while a replica was disconnected. Stored
 * weights win over the configuration file at start.
 */
export async function startWeightSync(
  registry: ModelRegistry,
  redisUrl: string,
  logger: HandlerLogger,
  pollMs = 1_000,
): Promise<WeightSync> {
  const client = new Redis(redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  const subscriber = new Redis(redisUrl, { maxRetriesPerRequest: null });
  client.on('error', () => undefined);
  subscriber.on('error', () => undefined);
  await Promise.race([
    new Promise((resolve) => client.once('ready', resolve)),
    new Promise((resolve) => setTimeout(resolve, 2_000)),
  ]);

  const reload = async (model: string): Promise<void> => {
    try {
      apply(registry, model, await client.hgetall(key(model)));
    } catch (error) {
      logger.warn(
        { model, err: (error as Error).message },
        'cannot read shared weights; keeping the current ones',
      );
    }
  };
  const reloadAll = async (): Promise<void> => {
    await Promise.all([...registry.keys()].map(reload));
  };

  await reloadAll();
  subscriber.on('message', (_channel: string, model: string) => {
    void reload(model);
  });
  await subscriber.subscribe(CHANNEL).catch(() => undefined);
  const timer = setInterval(() => void reloadAll(), pollMs);
  timer.unref();

  return {
    async publish(model, weights) {
      const fields = Object.fromEntries(Object.entries(weights).map(([v, w]) => [v, String(w)]));
      await client.multi().hset(key(model), fields).publish(CHANNEL, model).exec();
    },
    async close() {
      clearInterval(timer);
      subscriber.disconnect();
      client.disconnect();
      await Promise.resolve();
    },
  };
}
