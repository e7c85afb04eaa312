import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { InferenceError } from '@switchyard/handlers';
import type { StateStore } from '../jobs/state.js';

/** What a key may do. */
export interface KeyGrant {
  /** Shown in logs and listings; never the key itself. */
  readonly id: string;
  /** Models it may call; `*` for all. */
  readonly models: readonly string[];
  /** Admin routes (weights, keys) need an admin key. */
  readonly admin: boolean;
  /** Its own request rate, over the configured default for keys. */
  readonly rateLimit?: { readonly rps: number; readonly burst: number } | undefined;
}

/** A key in the configuration: its SHA-256 digest, never the key. */
export interface ConfiguredKey extends KeyGrant {
  readonly sha256: string;
}

const digestOf = (key: string) => createHash('sha256').update(key).digest('hex');
const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const CACHE_MS = 1000;

/**
 * The API keys the gateway accepts: those in its configuration, and those added
 * through the admin API (kept in the state store: Redis when configured, so every
 * replica sees an added or revoked key within a second). Only SHA-256 digests are
 * stored; a key is shown once, when it is made.
 */
export class KeyRing {
  private readonly configured = new Map<string, ConfiguredKey>();
  private readonly cache = new Map<string, { grant: KeyGrant | undefined; at: number }>();
  private known = { any: false, at: 0 };

  constructor(
    keys: readonly ConfiguredKey[],
    private readonly state: StateStore,
  ) {
    for (const key of keys) this.configured.set(key.sha256, key);
  }

  /**
   * Whether keys are required: as soon as one is configured or was added. The
   * embedded default has none, and its routes are open.
   */
  async enabled(): Promise<boolean> {
    if (this.configured.size > 0) return true;
    if (Date.now() - this.known.at < CACHE_MS) return this.known.any;
    this.known = { any: (await this.state.latest('apikeys', 1)).length > 0, at: Date.now() };
    return this.known.any;
  }

  /** The grant of a presented key, or `undefined` for an unknown or revoked one. */
  async verify(key: string): Promise<KeyGrant | undefined> {
    const digest = digestOf(key);
    const bytes = Buffer.from(digest, 'hex');
    for (const [stored, grant] of this.configured) {
      if (timingSafeEqual(Buffer.from(stored, 'hex'), bytes)) return grant;
    }
    const cached = this.cache.get(digest);
    if (cached !== undefined && Date.now() - cached.at < CACHE_MS) return cached.grant;
    const text = await this.state.get(`apikey:${digest}`);
    const grant = text === undefined ? undefined : (JSON.parse(text) as KeyGrant);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(digest, { grant, at: Date.now() });
    return grant;
  }

  /** Make a key; the only time the key itself is seen. */
  async create(grant: KeyGrant): Promise<{ key: string; grant: KeyGrant }> {
    if (!ID.test(grant.id)) {
      throw new InferenceError(
        'INVALID_INPUT',
        'a key id is 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit',
      );
    }
    if ([...this.configured.values()].some((k) => k.id === grant.id)) {
      throw new InferenceError('CONFLICT', `key id "${grant.id}" is in the configuration`);
    }
    const key = `sy_${randomBytes(24).toString('base64url')}`;
    const digest = digestOf(key);
    if (!(await this.state.create(`apikey-id:${grant.id}`, digest))) {
      throw new InferenceError('CONFLICT', `key id "${grant.id}" is already in use`);
    }
    await this.state.set(`apikey:${digest}`, JSON.stringify(grant));
    await this.state.index('apikeys', grant.id, Date.now());
    this.known = { any: true, at: Date.now() };
    return { key, grant };
  }

  /** Revoke an added key by id; configured keys are revoked by removing them from the configuration. */
  async revoke(id: string): Promise<void> {
    const digest = await this.state.get(`apikey-id:${id}`);
    if (digest === undefined) {
      const configured = [...this.configured.values()].some((k) => k.id === id);
      throw new InferenceError(
        configured ? 'CONFLICT' : 'NOT_FOUND',
        configured ? `key "${id}" is in the configuration: remove it there` : `no key "${id}"`,
      );
    }
    await this.state.delete(`apikey:${digest}`, `apikey-id:${id}`);
    await this.state.unindex('apikeys', id);
    this.cache.delete(digest);
  }

  /** Every key's grant, configured ones first; never a key or a digest. */
  async list(): Promise<(KeyGrant & { source: 'config' | 'api' })[]> {
    const added = await this.state.latest('apikeys', 10_000);
    const grants = await Promise.all(
      added.map(async (id) => {
        const digest = await this.state.get(`apikey-id:${id}`);
        const text = digest === undefined ? undefined : await this.state.get(`apikey:${digest}`);
        return text === undefined ? undefined : (JSON.parse(text) as KeyGrant);
      }),
    );
    return [
      ...[...this.configured.values()].map(({ sha256: _, ...grant }) => ({
        ...grant,
        source: 'config' as const,
      })),
      ...grants.filter((g) => g !== undefined).map((g) => ({ ...g, source: 'api' as const })),
    ];
  }
}

/** Admin keys given only as digests (the `admin.keySha256` setting): all models. */
export function adminKeys(digests: readonly string[]): ConfiguredKey[] {
  return digests.map((sha256, i) => ({ id: `admin-${i + 1}`, sha256, models: ['*'], admin: true }));
}

/** Whether a grant covers a model. */
export function mayUse(grant: KeyGrant, model: string): boolean {
  return grant.admin || grant.models.includes('*') || grant.models.includes(model);
}
