import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createFileModelRegistry,
  ModelIntegrityError,
  ModelNotFoundError,
  type ModelRegistry,
  type RegisterVersionInput,
} from '../../registry/model-registry.js';

function registration(overrides: Partial<RegisterVersionInput> = {}): RegisterVersionInput {
  return {
    detector: 'checkout-latency',
    model: { kind: 'test-model', weights: [1, 2, 3] },
    spec: { name: 'checkout-latency' },
    dataRange: { startMs: 0, endMs: 3_600_000, points: 60 },
    parameters: { trees: 100 },
    metrics: { f1: 0.8 },
    codeVersion: '0.1.0+abc1234',
    createdAt: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

describe('file model registry', () => {
  let root: string;
  let registry: ModelRegistry;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'model-registry-'));
    registry = createFileModelRegistry(root);
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('numbers versions 1, 2, 3 per detector and returns their metadata', async () => {
    const first = await registry.registerVersion(registration());
    const second = await registry.registerVersion(registration({ metrics: { f1: 0.9 } }));
    const other = await registry.registerVersion(registration({ detector: 'frontend-cpu' }));

    expect([first.version, second.version, other.version]).toEqual([1, 2, 1]);
    const { model: _model, ...meta } = registration({ metrics: { f1: 0.9 } });
    expect(second).toEqual({ ...meta, version: 2, checksum: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  it('gives five concurrent registrations five distinct versions', async () => {
    const metas = await Promise.all(
      Array.from({ length: 5 }, (_, i) => registry.registerVersion(registration({ metrics: { f1: i } }))),
    );

    expect(metas.map((m) => m.version).sort()).toEqual([1, 2, 3, 4, 5]);
    const listed = await registry.listVersions('checkout-latency');
    expect(listed.map((m) => m.version)).toEqual([1, 2, 3, 4, 5]);
    // Each version holds the model it was registered with.
    for (const meta of metas) {
      expect((await registry.getVersion('checkout-latency', meta.version)).meta.metrics).toEqual(
        meta.metrics,
      );
    }
  });

  it('returns the existing version when a registration repeats its run key', async () => {
    const first = await registry.registerVersion(registration({ runKey: 'train-42' }));

    const retried = await registry.registerVersion(
      registration({ runKey: 'train-42', createdAt: '2026-01-02T00:00:00.000Z' }),
    );
    const next = await registry.registerVersion(registration({ runKey: 'train-43' }));

    expect(retried).toEqual(first);
    expect(next.version).toBe(2);
    expect((await registry.listVersions('checkout-latency')).map((m) => m.version)).toEqual([1, 2]);
  });

  it('returns one version to concurrent registrations that share a run key', async () => {
    const metas = await Promise.all(
      Array.from({ length: 3 }, () => registry.registerVersion(registration({ runKey: 'train-7' }))),
    );

    expect(metas.map((m) => m.version)).toEqual([1, 1, 1]);
    expect(await registry.listVersions('checkout-latency')).toEqual([metas[0]]);
  });

  it('keeps registering after a registration fails', async () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;

    await expect(registry.registerVersion(registration({ model: circular }))).rejects.toThrow(TypeError);

    expect((await registry.registerVersion(registration())).version).toBe(1);
  });

  it('loads a version with the model it was registered with', async () => {
    await registry.registerVersion(registration());

    const { meta, model } = await registry.getVersion('checkout-latency', 1);

    expect(model).toEqual({ kind: 'test-model', weights: [1, 2, 3] });
    expect(meta.version).toBe(1);
  });

  it('refuses a model whose file no longer matches its checksum', async () => {
    await registry.registerVersion(registration());
    const path = join(root, 'registry', 'checkout-latency', 'versions', '1', 'model.json');
    const body = await readFile(path, 'utf8');
    await writeFile(path, body.replace('[1,2,3]', '[1,2,4]'));

    const loading = registry.getVersion('checkout-latency', 1);

    await expect(loading).rejects.toBeInstanceOf(ModelIntegrityError);
    await expect(registry.getVersion('checkout-latency', 1)).rejects.toThrow(
      /model 'checkout-latency' version 1 is corrupt: checksum [0-9a-f]{12} is not the registered [0-9a-f]{12}/,
    );
  });

  it('reports a missing version as not found, naming the detector and version', async () => {
    await registry.registerVersion(registration());

    await expect(registry.getVersion('checkout-latency', 7)).rejects.toThrow(
      new ModelNotFoundError("detector 'checkout-latency' has no version 7"),
    );
    await expect(registry.listVersions('never-trained')).resolves.toEqual([]);
  });

  it.each(['Checkout', '../etc', 'a/b', '-leading-dash', ''])(
    'rejects the detector name %j, quoting it',
    async (name) => {
      await expect(registry.registerVersion(registration({ detector: name }))).rejects.toThrow(
        new ModelNotFoundError(`detector '${name}' is not a valid detector name`),
      );
      await expect(registry.getAlias(name, 'champion')).rejects.toThrow(ModelNotFoundError);
    },
  );

  it('lists the detectors that have versions, in name order', async () => {
    expect(await registry.listDetectors()).toEqual([]);

    await registry.registerVersion(registration({ detector: 'frontend-cpu' }));
    await registry.registerVersion(registration({ detector: 'checkout-latency' }));

    expect(await registry.listDetectors()).toEqual(['checkout-latency', 'frontend-cpu']);
  });

  it('moves aliases and logs each decision with the version it replaced', async () => {
    await registry.registerVersion(registration());
    await registry.registerVersion(registration());
    expect(await registry.getAlias('checkout-latency', 'champion')).toBeUndefined();

    const promoted = await registry.setAlias({
      detector: 'checkout-latency',
      alias: 'champion',
      action: 'promote',
      version: 1,
      reason: 'first version',
      at: '2026-01-01T01:00:00.000Z',
    });
    const replaced = await registry.setAlias({
      detector: 'checkout-latency',
      alias: 'champion',
      action: 'promote',
      version: 2,
      reason: 'F1 0.90 beats 0.80',
      metrics: { f1: 0.9 },
      at: '2026-01-01T02:00:00.000Z',
    });
    const kept = await registry.recordDecision({
      detector: 'checkout-latency',
      alias: 'challenger',
      action: 'reject',
      version: 1,
      reason: 'F1 0.80 does not beat 0.90',
      at: '2026-01-01T03:00:00.000Z',
    });

    expect(await registry.getAlias('checkout-latency', 'champion')).toBe(2);
    expect(await registry.getAlias('checkout-latency', 'challenger')).toBeUndefined();
    expect(promoted).not.toHaveProperty('previousVersion');
    expect(replaced.previousVersion).toBe(1);
    expect(await registry.decisions('checkout-latency')).toEqual([promoted, replaced, kept]);
    expect(await registry.decisions('frontend-cpu')).toEqual([]);
  });

  it('refuses to point an alias at a version that does not exist', async () => {
    await registry.registerVersion(registration());

    await expect(
      registry.setAlias({
        detector: 'checkout-latency',
        alias: 'champion',
        action: 'promote',
        version: 3,
        reason: 'typo',
      }),
    ).rejects.toThrow("detector 'checkout-latency' has no version 3");
    expect(await registry.decisions('checkout-latency')).toEqual([]);
  });
});
