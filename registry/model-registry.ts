import { appendFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readJson, sha256, writeFileAtomic } from './atomic-file.js';

/** What the registry knows about one trained version, beside the model itself. */
export interface ModelVersionMeta {
  readonly detector: string;
  readonly version: number;
  readonly createdAt: string;
  /** sha256 of model.json; checked on every load. */
  readonly checksum: string;
  readonly spec: unknown;
  readonly dataRange: { startMs: number; endMs: number; points: number };
  readonly parameters: Record<string, unknown>;
  readonly metrics: Record<string, number>;
  /** Package version and commit of the code that trained it. */
  readonly codeVersion: string;
  /** The champion when this version was trained: its lineage. */
  readonly parentVersion?: number;
  /** Identifies the training run, so a retried registration returns the version it already made. */
  readonly runKey?: string;
}

export interface RegisterVersionInput extends Omit<ModelVersionMeta, 'version' | 'createdAt' | 'checksum'> {
  readonly model: unknown;
  readonly createdAt?: string;
}

export type ModelAlias = 'champion' | 'challenger';

/** One promotion, rollback or rejection, with the figures that decided it. */
export interface AliasDecision {
  readonly at: string;
  readonly detector: string;
  readonly alias: ModelAlias;
  readonly action: 'promote' | 'rollback' | 'reject' | 'keep';
  readonly version: number;
  readonly previousVersion?: number;
  readonly reason: string;
  readonly metrics?: Record<string, number>;
}

export interface ModelRegistry {
  registerVersion(input: RegisterVersionInput): Promise<ModelVersionMeta>;
  getVersion<T = unknown>(detector: string, version: number): Promise<{ meta: ModelVersionMeta; model: T }>;
  getMeta(detector: string, version: number): Promise<ModelVersionMeta>;
  listVersions(detector: string): Promise<ModelVersionMeta[]>;
  listDetectors(): Promise<string[]>;
  getAlias(detector: string, alias: ModelAlias): Promise<number | undefined>;
  /** Points the alias at a version and appends the decision to the detector's audit log. */
  setAlias(decision: Omit<AliasDecision, 'at' | 'previousVersion'> & { at?: string }): Promise<AliasDecision>;
  /** Records a decision that moved no alias (a challenger rejected, a champion kept). */
  recordDecision(decision: Omit<AliasDecision, 'at'> & { at?: string }): Promise<AliasDecision>;
  decisions(detector: string): Promise<AliasDecision[]>;
}

export class ModelNotFoundError extends Error {
  override readonly name = 'ModelNotFoundError';
}

export class ModelIntegrityError extends Error {
  override readonly name = 'ModelIntegrityError';
}

const DETECTOR_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * The default registry: one folder per detector under `root`, a folder per version holding
 * model.json and meta.json, aliases.json for champion and challenger, and decisions.jsonl.
 * Version numbers are claimed with mkdir, which is atomic, so concurrent trainings never share one.
 */
export function createFileModelRegistry(root: string): ModelRegistry {
  const detectorDir = (detector: string) => {
    if (!DETECTOR_PATTERN.test(detector)) {
      throw new ModelNotFoundError(`detector '${detector}' is not a valid detector name`);
    }
    return join(root, 'registry', detector);
  };
  const versionDir = (detector: string, version: number) =>
    join(detectorDir(detector), 'versions', String(version));

  const listVersionNumbers = async (detector: string): Promise<number[]> => {
    try {
      const entries = await readdir(join(detectorDir(detector), 'versions'));
      return entries
        .map(Number)
        .filter((v) => Number.isInteger(v) && v > 0)
        .sort((a, b) => a - b);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  };

  const getMeta = async (detector: string, version: number): Promise<ModelVersionMeta> => {
    const meta = await readJson<ModelVersionMeta>(join(versionDir(detector, version), 'meta.json'));
    if (!meta) throw new ModelNotFoundError(`detector '${detector}' has no version ${version}`);
    return meta;
  };

  const readAliases = async (detector: string) =>
    (await readJson<Partial<Record<ModelAlias, number>>>(join(detectorDir(detector), 'aliases.json'))) ?? {};

  const appendDecision = async (decision: AliasDecision) => {
    await mkdir(detectorDir(decision.detector), { recursive: true });
    await appendFile(
      join(detectorDir(decision.detector), 'decisions.jsonl'),
      `${JSON.stringify(decision)}\n`,
    );
  };

  // Registrations of one detector run one at a time within this process, so a retry that overlaps
  // the attempt it retries finds that attempt's version by its run key instead of adding another.
  // Limitation: two processes sharing `root` do not see each other's lock; their versions stay
  // distinct (mkdir), but the same run key registered at the same instant by both makes two.
  const queues = new Map<string, Promise<unknown>>();
  const serialised = <T>(detector: string, task: () => Promise<T>): Promise<T> => {
    const run = (queues.get(detector) ?? Promise.resolve()).then(task, task);
    const settled = run.catch(() => undefined);
    queues.set(detector, settled);
    void settled.then(() => {
      if (queues.get(detector) === settled) queues.delete(detector);
    });
    return run;
  };

  const register = async (input: RegisterVersionInput): Promise<ModelVersionMeta> => {
    const { model, ...rest } = input;
    if (input.runKey) {
      for (const v of await listVersionNumbers(input.detector)) {
        const existing = await readJson<ModelVersionMeta>(join(versionDir(input.detector, v), 'meta.json'));
        if (existing?.runKey === input.runKey) return existing;
      }
    }
    const body = JSON.stringify(model);
    const checksum = sha256(body);
    await mkdir(join(detectorDir(input.detector), 'versions'), { recursive: true });
    let version = ((await listVersionNumbers(input.detector)).at(-1) ?? 0) + 1;
    for (;;) {
      try {
        await mkdir(versionDir(input.detector, version));
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        version++;
      }
    }
    const meta: ModelVersionMeta = {
      ...rest,
      version,
      checksum,
      createdAt: input.createdAt ?? new Date().toISOString(),
    };
    // model.json first: a version with meta.json always has its model.
    await writeFileAtomic(join(versionDir(input.detector, version), 'model.json'), body);
    await writeFileAtomic(
      join(versionDir(input.detector, version), 'meta.json'),
      JSON.stringify(meta, null, 2),
    );
    return meta;
  };

  return {
    async registerVersion(input) {
      // Validates the name before it keys the queue.
      detectorDir(input.detector);
      return serialised(input.detector, () => register(input));
    },

    async getVersion<T>(detector: string, version: number) {
      const meta = await getMeta(detector, version);
      const body = await readFile(join(versionDir(detector, version), 'model.json'), 'utf8');
      if (sha256(body) !== meta.checksum) {
        throw new ModelIntegrityError(
          `model '${detector}' version ${version} is corrupt: checksum ${sha256(body).slice(0, 12)} is not the registered ${meta.checksum.slice(0, 12)}`,
        );
      }
      return { meta, model: JSON.parse(body) as T };
    },

    getMeta,

    async listVersions(detector) {
      const versions = await listVersionNumbers(detector);
      const metas = await Promise.all(
        versions.map((v) => readJson<ModelVersionMeta>(join(versionDir(detector, v), 'meta.json'))),
      );
      // A version folder without meta.json is a registration still being written, or one that died.
      return metas.filter((m): m is ModelVersionMeta => m !== undefined);
    },

    async listDetectors() {
      try {
        return (await readdir(join(root, 'registry'))).filter((d) => DETECTOR_PATTERN.test(d)).sort();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw err;
      }
    },

    async getAlias(detector, alias) {
      return (await readAliases(detector))[alias];
    },

    async setAlias({ at, ...decision }) {
      await getMeta(decision.detector, decision.version);
      const aliases = await readAliases(decision.detector);
      const previousVersion = aliases[decision.alias];
      const recorded: AliasDecision = {
        at: at ?? new Date().toISOString(),
        ...decision,
        ...(previousVersion !== undefined ? { previousVersion } : {}),
      };
      await writeFileAtomic(
        join(detectorDir(decision.detector), 'aliases.json'),
        JSON.stringify({ ...aliases, [decision.alias]: decision.version }, null, 2),
      );
      await appendDecision(recorded);
      return recorded;
    },

    async recordDecision({ at, ...decision }) {
      const recorded: AliasDecision = { at: at ?? new Date().toISOString(), ...decision };
      await appendDecision(recorded);
      return recorded;
    },

    async decisions(detector) {
      try {
        const text = await readFile(join(detectorDir(detector), 'decisions.jsonl'), 'utf8');
        return text
          .split('\n')
          .filter((line) => line.trim() !== '')
          .map((line) => JSON.parse(line) as AliasDecision);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw err;
      }
    },
  };
}
