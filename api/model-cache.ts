import { type DetectorModel, type LoadedDetectorModel, loadDetectorModel } from '../ml/detector-model.js';
import type { ModelRegistry } from '../registry/model-registry.js';

export interface ServedModel {
  readonly detector: string;
  readonly version: number;
  readonly loaded: LoadedDetectorModel;
}

export interface ModelCacheOptions {
  readonly registry: ModelRegistry;
  /** How long a champion lookup is trusted before the registry is asked again. @default 2000 */
  readonly aliasTtlMs?: number;
  /** Versions kept loaded, least recently used evicted first. @default 32 */
  readonly maxModels?: number;
  readonly now?: () => number;
}

/**
 * Loads models from the registry once and keeps them, and follows the champion alias with a short
 * TTL so a promotion reaches the API within seconds without a restart.
 */
export class ModelCache {
  private readonly models = new Map<string, ServedModel>();
  private readonly champions = new Map<string, { version: number | undefined; checkedAt: number }>();
  private readonly registry: ModelRegistry;
  private readonly aliasTtlMs: number;
  private readonly maxModels: number;
  private readonly now: () => number;

  constructor(options: ModelCacheOptions) {
    this.registry = options.registry;
    this.aliasTtlMs = options.aliasTtlMs ?? 2000;
    this.maxModels = options.maxModels ?? 32;
    this.now = options.now ?? Date.now;
  }

  async championVersion(detector: string): Promise<number | undefined> {
    const cached = this.champions.get(detector);
    if (cached && this.now() - cached.checkedAt < this.aliasTtlMs) return cached.version;
    const version = await this.registry.getAlias(detector, 'champion');
    this.champions.set(detector, { version, checkedAt: this.now() });
    return version;
  }

  async get(detector: string, version: number): Promise<ServedModel> {
    const key = `${detector}@${version}`;
    const hit = this.models.get(key);
    if (hit) {
      this.models.delete(key);
      this.models.set(key, hit);
      return hit;
    }
    const { model } = await this.registry.getVersion<DetectorModel>(detector, version);
    const served = { detector, version, loaded: await loadDetectorModel(model) };
    this.models.set(key, served);
    if (this.models.size > this.maxModels) this.models.delete(this.models.keys().next().value!);
    return served;
  }

  /** Loads every detector's champion; ready means at least one is being served. */
  async warm(): Promise<number> {
    let loaded = 0;
    for (const detector of await this.registry.listDetectors()) {
      const version = await this.championVersion(detector);
      if (version === undefined) continue;
      await this.get(detector, version);
      loaded++;
    }
    return loaded;
  }

  loadedCount(): number {
    return this.models.size;
  }
}
