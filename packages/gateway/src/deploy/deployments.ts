import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import {
  DEPLOYMENT_WIRE_VERSION,
  InferenceError,
  NAME_PATTERN,
  revisionStatus,
  type DeploymentRecord,
  type DeploymentState,
  type HandlerLogger,
  type ModelSettings,
  type RevisionStatus,
  type VariantDeployment,
  type VariantRevision,
} from '@switchyard/handlers';
import {
  coalesced,
  type Coalesced,
  type DeploymentStore,
  type ObjectStore,
} from '@switchyard/worker';
import type { Backend } from '../backends/backend.js';
import { MODEL_DEFAULTS, type GatewayConfig, type ModelConfig } from '../config/schema.js';
import {
  variantState,
  type ModelState,
  type MutableModelRegistry,
  type VariantState,
} from '../http/model-registry.js';
import type { DeployVariantBody } from './schema.js';

export interface DeploymentsOptions {
  readonly registry: MutableModelRegistry;
  readonly config: GatewayConfig;
  readonly store: DeploymentStore;
  /** Where uploaded model archives are kept (the gateway's storage). */
  readonly artifacts: ObjectStore;
  readonly logger: HandlerLogger;
  /** Largest uploaded archive. */
  readonly maxArtifactBytes: number;
  /** How often every record is read again (covers missed pub/sub messages). */
  readonly pollMs?: number;
}

/** A variant as `GET /v1/admin/deployments` shows it. */
export interface VariantView {
  readonly name: string;
  /** `config` for variants of the configuration file, `api` for registered ones. */
  readonly source: 'config' | 'api';
  readonly weight: number;
  readonly state: DeploymentState;
  readonly reason?: string;
  readonly revision?: number;
  /** The revision requests go to; absent while none is in service. */
  readonly servingRevision?: number;
  readonly backend: string;
  readonly modelData?: string;
  readonly multiModel?: boolean;
  readonly batching?: { maxBatchSize: number; maxDelayMs: number };
  /** Loaders (workers, or gateways serving it in process) with the newest revision loaded. */
  readonly loaders?: number;
  readonly createdAt?: string;
}

export interface ModelView {
  readonly name: string;
  readonly source: 'config' | 'api';
  readonly variants: VariantView[];
}

/** A registered model's settings, with the configuration file's defaults. */
function modelConfig(settings: ModelSettings): ModelConfig {
  return {
    variants: {},
    contentTypes: settings.contentTypes ?? [...MODEL_DEFAULTS.contentTypes],
    accepts: settings.accepts ?? [...MODEL_DEFAULTS.accepts],
    maxBodyBytes: settings.maxBodyBytes ?? MODEL_DEFAULTS.maxBodyBytes,
    timeoutMs: settings.timeoutMs ?? MODEL_DEFAULTS.timeoutMs,
    fallback: [],
  };
}

/** A revision as it was, without the fields of the variant that carries it. */
function revisionOf(d: VariantDeployment): VariantRevision {
  const { weight: _weight, previous: _previous, ...revision } = d;
  return revision;
}

const notFound = (what: string) => new InferenceError('NOT_FOUND', what);
const conflict = (what: string) => new InferenceError('CONFLICT', what);
const invalid = (what: string) => new InferenceError('INVALID_INPUT', what);

/** What this gateway holds for one registered variant. */
interface Slot {
  /** The newest record applied, and how many loaders have its revision ready. */
  spec?: VariantDeployment & { loaders: number };
  /** Identity of the shared backend (queue, SageMaker): a new one when it changes. */
  key?: string;
  backend?: Backend;
  /** Local variants: the revisions this gateway loaded or is loading itself. */
  local: Map<number, LocalRevision>;
}

interface LocalRevision {
  backend?: Backend;
  loading?: Promise<Backend | undefined>;
  failed?: string;
}

/**
 * Models and variants registered at runtime. Writes go to the deployment store;
 * every gateway (this one included) applies them to its registry when the store
 * says a model changed, so replicas converge without restarts. A registered
 * variant is routed to only once a revision of it is in service: a worker of its
 * pool (queue), or this gateway (local), has loaded and warmed it. A replaced
 * variant keeps serving its old revision until the new one is in service.
 *
 * @example
 * ```ts
 * const deployments = await Deployments.start({ registry, config, store, artifacts, logger, maxArtifactBytes });
 * await deployments.putVariant('iris', 'v3', { weight: 10, backend: { type: 'queue', pool: 'default' }, modelData });
 * ```
 */
export class Deployments {
  private readonly slots = new Map<string, Slot>();
  /** Each model's sync: one run at a time, and one more for changes meanwhile. */
  private readonly syncs = new Map<string, Coalesced>();
  private readonly loaderId = `gateway:${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private watcher: { close(): void } | undefined;
  private closed = false;

  private constructor(private readonly options: DeploymentsOptions) {}

  static async start(options: DeploymentsOptions): Promise<Deployments> {
    const deployments = new Deployments(options);
    await deployments.syncAll();
    deployments.watcher = options.store.watch((model) => {
      if (model === undefined) void deployments.syncAll();
      else void deployments.sync(model);
    }, options.pollMs);
    return deployments;
  }

  private get registry(): MutableModelRegistry {
    return this.options.registry;
  }

  private configured(model: string): boolean {
    return Object.hasOwn(this.options.config.models, model);
  }

  /** `POST /v1/admin/models`: a model with no variants yet. */
  async createModel(name: string, settings: ModelSettings): Promise<ModelView> {
    if (this.configured(name)) {
      throw conflict(`model "${name}" comes from the configuration file`);
    }
    await this.options.store.update(name, (current) => {
      if (current !== undefined) throw conflict(`model "${name}" already exists`);
      return { v: DEPLOYMENT_WIRE_VERSION, model: name, created: true, settings, variants: {} };
    });
    await this.sync(name);
    return this.describe(name);
  }

  /** `DELETE /v1/admin/models/{name}`: a registered model and all its variants. */
  async deleteModel(name: string): Promise<void> {
    if (this.configured(name)) {
      throw conflict(`model "${name}" comes from the configuration file; remove it there`);
    }
    await this.options.store.update(name, (current) => {
      if (current === undefined) throw notFound(`no registered model "${name}"`);
      return undefined;
    });
    await this.sync(name);
  }

  /**
   * `PUT /v1/admin/models/{model}/variants/{variant}`: add a variant, or replace
   * one with a new revision (the old one serves until the new one is in service).
   */
  async putVariant(model: string, variant: string, body: DeployVariantBody): Promise<VariantView> {
    if (!NAME_PATTERN.test(variant)) {
      throw invalid(`invalid variant name "${variant}": letters, digits, ".", "_" or "-"`);
    }
    const state = this.registry.get(model);
    if (state === undefined) throw notFound(`no model "${model}": create it first`);
    const existing = state.variants.get(variant);
    if (existing !== undefined && existing.deployment === undefined) {
      throw conflict(
        `variant "${variant}" of "${model}" comes from the configuration file; deploy under another name`,
      );
    }
    const backend = body.backend;
    if (backend.type === 'queue' && this.options.config.redis === undefined) {
      throw invalid('queue variants need Redis: this gateway has no redis configured');
    }
    if (backend.type !== 'sagemaker' && body.modelData === undefined) {
      throw invalid(`a ${backend.type} variant needs modelData (upload an archive first)`);
    }
    if (body.multiModel && backend.type !== 'queue') {
      throw invalid('multiModel variants are served by queue workers: use a queue backend');
    }
    const store = this.options.store;
    const revision = await store.nextRevision();
    const before = await store.get(model);
    const old = before?.variants[variant];
    // The revision to keep serving meanwhile: the old newest one if it serves, else
    // the one it was itself waiting to replace.
    const oldStatus = old === undefined ? undefined : await this.status(model, variant, old);
    const previous =
      old === undefined
        ? undefined
        : oldStatus?.state === 'InService'
          ? revisionOf(old)
          : old.previous;
    const next: VariantDeployment = {
      revision,
      weight: body.weight,
      backend,
      ...(body.modelData === undefined ? {} : { modelData: body.modelData }),
      multiModel: body.multiModel,
      batching: body.batching,
      createdAt: Date.now(),
      ...(previous === undefined ? {} : { previous }),
    };
    if (backend.type === 'sagemaker') {
      // Nothing to load: the endpoint serves it, or answers for itself.
      await store.report(model, variant, revision, this.loaderId, {
        state: 'ready',
        at: Date.now(),
      });
    }
    await store.update(model, (current) => {
      const record: DeploymentRecord = current ?? {
        v: DEPLOYMENT_WIRE_VERSION,
        model,
        created: false,
        settings: {},
        variants: {},
      };
      if (current === undefined && !this.configured(model)) {
        throw notFound(`no model "${model}": create it first`);
      }
      return { ...record, variants: { ...record.variants, [variant]: next } };
    });
    this.options.logger.info(
      { model, variant, revision, backend: backend.type, modelData: body.modelData },
      'variant deployed',
    );
    await this.sync(model);
    return this.describeVariant(model, variant);
  }

  /** `DELETE /v1/admin/models/{model}/variants/{variant}`. */
  async removeVariant(model: string, variant: string): Promise<void> {
    const v = this.registry.get(model)?.variants.get(variant);
    if (v !== undefined && v.deployment === undefined) {
      throw conflict(`variant "${variant}" of "${model}" comes from the configuration file`);
    }
    await this.options.store.update(model, (current) => {
      if (current?.variants[variant] === undefined) {
        throw notFound(`no registered variant "${variant}" of "${model}"`);
      }
      const { [variant]: _removed, ...variants } = current.variants;
      return { ...current, variants };
    });
    this.options.logger.info({ model, variant }, 'variant removed');
    await this.sync(model);
  }

  /** New weights of registered variants (the record is where their weight lives). */
  async setWeights(model: string, weights: Readonly<Record<string, number>>): Promise<void> {
    if (Object.keys(weights).length === 0) return;
    await this.options.store.update(model, (current) => {
      if (current === undefined) throw notFound(`no registered variants of "${model}"`);
      const variants = { ...current.variants };
      for (const [name, weight] of Object.entries(weights)) {
        const v = variants[name];
        if (v !== undefined) variants[name] = { ...v, weight };
      }
      return { ...current, variants };
    });
    await this.sync(model);
  }

  /**
   * `POST /v1/admin/artifacts`: keep an uploaded `model.tar.gz` in the gateway's
   * storage; its location is the `modelData` of a variant.
   */
  async upload(body: ReadableStream<Uint8Array>): Promise<{
    modelData: string;
    bytes: number;
    sha256: string;
  }> {
    const max = this.options.maxArtifactBytes;
    const hash = createHash('sha256');
    let bytes = 0;
    let problem: InferenceError | undefined;
    // Counted, hashed and checked on the way to the store; a problem ends the stream.
    async function* checked(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
      for await (const chunk of source) {
        if (bytes === 0 && chunk.length > 0 && chunk[0] !== 0x1f) {
          problem = new InferenceError(
            'UNSUPPORTED_MEDIA_TYPE',
            'the upload is not a gzip archive: send a model.tar.gz',
          );
        }
        bytes += chunk.length;
        if (bytes > max) {
          problem = new InferenceError(
            'PAYLOAD_TOO_LARGE',
            `the archive is over the limit of ${max} bytes`,
          );
        }
        if (problem !== undefined) throw problem;
        hash.update(chunk);
        yield chunk;
      }
    }
    const key = `models/${randomUUID()}/model.tar.gz`;
    const stream = Readable.from(checked(Readable.fromWeb(body)));
    try {
      await this.options.artifacts.put(key, stream, 'application/gzip');
    } catch (error) {
      await this.options.artifacts.delete(key).catch(() => undefined);
      if (problem !== undefined) throw problem;
      throw invalid(`the upload did not complete: ${(error as Error).message}`);
    }
    if (bytes === 0) {
      await this.options.artifacts.delete(key).catch(() => undefined);
      throw invalid('the upload is empty: send a model.tar.gz');
    }
    const sha256 = hash.digest('hex');
    this.options.logger.info({ key, bytes, sha256 }, 'model archive uploaded');
    return { modelData: this.options.artifacts.locate(key), bytes, sha256 };
  }

  /** Every model with its variants, registered or configured. */
  list(): ModelView[] {
    return [...this.registry.keys()].map((name) => this.describe(name));
  }

  describe(name: string): ModelView {
    const state = this.registry.get(name);
    if (state === undefined) throw notFound(`no model "${name}"`);
    return {
      name,
      source: this.configured(name) ? 'config' : 'api',
      variants: [...state.variants.keys()].map((v) => this.describeVariant(name, v)),
    };
  }

  describeVariant(model: string, variant: string): VariantView {
    const v = this.registry.get(model)?.variants.get(variant);
    if (v === undefined) throw notFound(`no variant "${variant}" of "${model}"`);
    const d = v.deployment;
    if (d === undefined) {
      return {
        name: variant,
        source: 'config',
        weight: v.weight,
        state: variantState(v).state,
        backend: v.backend.type,
      };
    }
    const spec = this.slots.get(`${model}\0${variant}`)?.spec;
    return {
      name: variant,
      source: 'api',
      weight: v.weight,
      state: d.state,
      ...(d.reason === undefined ? {} : { reason: d.reason }),
      revision: d.revision,
      ...(d.serving === undefined ? {} : { servingRevision: d.serving }),
      backend: v.backend.type,
      ...(spec?.modelData === undefined ? {} : { modelData: spec.modelData }),
      ...(spec === undefined
        ? {}
        : {
            multiModel: spec.multiModel,
            batching: spec.batching,
            createdAt: new Date(spec.createdAt).toISOString(),
            loaders: spec.loaders,
          }),
    };
  }

  private async status(
    model: string,
    variant: string,
    r: VariantRevision,
  ): Promise<RevisionStatus> {
    return revisionStatus(await this.options.store.reports(model, variant, r.revision));
  }

  private async syncAll(): Promise<void> {
    let records: DeploymentRecord[];
    try {
      records = await this.options.store.list();
    } catch (error) {
      this.options.logger.warn(
        { err: (error as Error).message },
        'cannot read deployments; keeping the current ones',
      );
      return;
    }
    const names = new Set([...records.map((r) => r.model)]);
    // Registered models and variants that are gone from the store go too.
    for (const [name, state] of this.registry) {
      if ([...state.variants.values()].some((v) => v.deployment !== undefined)) names.add(name);
      if (!this.configured(name)) names.add(name);
    }
    await Promise.all([...names].map((name) => this.sync(name)));
  }

  /** Apply a model's stored record to the registry; one run per model at a time. */
  sync(model: string): Promise<void> {
    let sync = this.syncs.get(model);
    if (sync === undefined) {
      sync = coalesced(
        async () => {
          try {
            await this.apply(model);
          } catch (error) {
            this.options.logger.warn(
              { model, err: (error as Error).message },
              'cannot apply deployments; keeping the current ones',
            );
          }
        },
        () => this.closed,
      );
      this.syncs.set(model, sync);
    }
    return sync();
  }

  private async apply(model: string): Promise<void> {
    if (this.closed) return;
    const record = await this.options.store.get(model);
    let state = this.registry.get(model);
    const configured = this.configured(model);
    if (record === undefined || (!record.created && !configured)) {
      if (state === undefined) return;
      for (const v of [...state.variants.values()]) {
        if (v.deployment !== undefined) await this.drop(state, v.name);
      }
      if (!configured) this.registry.delete(model);
      return;
    }
    if (state === undefined) {
      state = { name: model, config: modelConfig(record.settings), variants: new Map() };
      this.registry.set(model, state);
    }
    for (const [name, deployment] of Object.entries(record.variants)) {
      const current = state.variants.get(name);
      if (current !== undefined && current.deployment === undefined) continue;
      await this.applyVariant(state, name, deployment);
    }
    for (const v of [...state.variants.values()]) {
      if (v.deployment !== undefined && !Object.hasOwn(record.variants, v.name)) {
        await this.drop(state, v.name);
      }
    }
  }

  private async applyVariant(state: ModelState, name: string, d: VariantDeployment): Promise<void> {
    const model = state.name;
    const id = `${model}\0${name}`;
    const slot = this.slots.get(id) ?? { local: new Map<number, LocalRevision>() };
    this.slots.set(id, slot);
    const newest = await this.status(model, name, d);
    const previous =
      d.previous === undefined ? undefined : await this.status(model, name, d.previous);
    slot.spec = { ...d, loaders: newest.ready };

    let backend: Backend;
    let serving: number | undefined;
    if (d.backend.type === 'local') {
      ({ backend, serving } = this.localBackend(state, name, d, slot));
    } else {
      const key = JSON.stringify({ ...d.backend, multiModel: d.multiModel });
      if (slot.key !== key || slot.backend === undefined) {
        const old = slot.backend;
        slot.backend = await this.registry.makeBackend(
          model,
          name,
          d.backend.type === 'queue'
            ? {
                type: 'queue',
                registered: true,
                maxWaiting: d.backend.maxWaiting,
                attempts: d.backend.attempts,
                multiModel: d.multiModel,
              }
            : d.backend,
        );
        slot.key = key;
        if (old !== undefined) void old.close();
      }
      backend = slot.backend;
      serving =
        newest.state === 'InService'
          ? d.revision
          : previous?.state === 'InService'
            ? d.previous?.revision
            : undefined;
    }
    const before = state.variants.get(name);
    const next: VariantState = {
      name,
      weight: d.weight,
      backend,
      deployment: {
        revision: d.revision,
        serving,
        state: newest.state,
        ...(newest.reason === undefined ? {} : { reason: newest.reason }),
      },
    };
    state.variants.set(name, next);
    if (before?.deployment?.serving !== serving && serving !== undefined) {
      this.options.logger.info({ model, variant: name, revision: serving }, 'variant in service');
    }
  }

  /**
   * A local variant: this gateway loads each new revision itself, reports how it
   * went, serves the newest one it has loaded, and closes older ones once a newer
   * one serves. Until one is loaded, requests wait for the load within their
   * deadline, or get 429.
   */
  private localBackend(
    state: ModelState,
    name: string,
    d: VariantDeployment,
    slot: Slot,
  ): { backend: Backend; serving: number | undefined } {
    const model = state.name;
    let loading = slot.local.get(d.revision);
    if (loading === undefined) {
      loading = {};
      slot.local.set(d.revision, loading);
      const entry = loading;
      const report = (r: { state: 'loading' | 'ready' | 'failed'; reason?: string }) =>
        this.options.store
          .report(model, name, d.revision, this.loaderId, { ...r, at: Date.now() })
          .catch(() => undefined);
      entry.loading = (async () => {
        await report({ state: 'loading' });
        try {
          const backend = await this.registry.makeBackend(model, name, {
            type: 'local',
            model: d.modelData ?? '',
            maxBatchSize: d.batching.maxBatchSize,
            maxDelayMs: d.batching.maxDelayMs,
          });
          if (this.closed || !slot.local.has(d.revision)) {
            await backend.close();
            return undefined;
          }
          entry.backend = backend;
          await report({ state: 'ready' });
          return backend;
        } catch (error) {
          entry.failed = (error as Error).message;
          this.options.logger.warn(
            { model, variant: name, revision: d.revision, err: entry.failed },
            'variant failed to load',
          );
          await report({ state: 'failed', reason: entry.failed });
          return undefined;
        } finally {
          void this.sync(model);
        }
      })();
    }
    const keep = new Set([d.revision, d.previous?.revision]);
    const newest = slot.local.get(d.revision)?.backend;
    const older = d.previous === undefined ? undefined : slot.local.get(d.previous.revision);
    const servingRevision =
      newest !== undefined
        ? d.revision
        : older?.backend !== undefined
          ? d.previous?.revision
          : undefined;
    // Revisions nobody routes to any more are closed.
    for (const [revision, entry] of slot.local) {
      const unused = !keep.has(revision) || (newest !== undefined && revision !== d.revision);
      if (unused && entry.loading !== undefined && (entry.backend !== undefined || entry.failed)) {
        slot.local.delete(revision);
        void entry.backend?.close();
      }
    }
    if (servingRevision !== undefined) {
      const backend = slot.local.get(servingRevision)?.backend;
      if (backend !== undefined) return { backend, serving: servingRevision };
    }
    return { backend: waitingFor(loading.loading, model), serving: undefined };
  }

  /** Take a registered variant out of the registry and close what served it. */
  private async drop(state: ModelState, name: string): Promise<void> {
    const id = `${state.name}\0${name}`;
    state.variants.delete(name);
    const slot = this.slots.get(id);
    this.slots.delete(id);
    if (slot === undefined) return;
    await Promise.all([
      slot.backend?.close(),
      ...[...slot.local.values()].map((entry) => entry.backend?.close()),
    ]);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    await Promise.all(
      [...this.syncs.values()].flatMap((sync) =>
        sync.running === undefined ? [] : [sync.running],
      ),
    );
    for (const [model, state] of this.registry) {
      for (const v of [...state.variants.values()]) {
        if (v.deployment !== undefined) await this.drop(state, v.name);
      }
      if (!this.configured(model)) this.registry.delete(model);
    }
  }
}

/**
 * A local variant whose model is still loading: a request waits for it within
 * its deadline, then gets 429 (SageMaker's ModelNotReadyException).
 */
function waitingFor(loading: Promise<Backend | undefined> | undefined, model: string): Backend {
  const notReady = (why: string) => ({
    ok: false as const,
    error: new InferenceError('TOO_MANY_REQUESTS', why).toJSON(),
    retryAfter: 1,
  });
  return {
    type: 'local',
    async invoke(request) {
      if (loading === undefined) return notReady(`model "${model}" is not loaded`);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(
          () => {
            resolve('late');
          },
          Math.max(0, request.deadline - Date.now()),
        );
      });
      const loaded = await Promise.race([loading, late]).finally(() => {
        clearTimeout(timer);
      });
      if (loaded === 'late') return notReady(`model "${model}" is still loading`);
      if (loaded === undefined) {
        return {
          ok: false,
          error: new InferenceError('UNAVAILABLE', `model "${model}" failed to load`).toJSON(),
        };
      }
      return loaded.invoke(request);
    },
    async runChunk(chunk, signal) {
      const loaded = await loading;
      if (loaded === undefined)
        throw new InferenceError('UNAVAILABLE', `model "${model}" is not loaded`);
      return loaded.runChunk(chunk, signal);
    },
    healthy: () => false,
    close: () => Promise.resolve(),
  };
}
