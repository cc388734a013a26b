import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app.js';
import { createFileModelRegistry, type ModelRegistry } from '../../registry/model-registry.js';

describe('POST /models/:detector/rollback', () => {
  let dataDir: string;
  let registry: ModelRegistry;

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'api-rollback-'));
    registry = createFileModelRegistry(dataDir);
    for (const f1 of [0.7, 0.8]) {
      const meta = await registry.registerVersion({
        detector: 'orders',
        model: { f1 },
        spec: {},
        dataRange: { startMs: 0, endMs: 1, points: 2 },
        parameters: {},
        metrics: { f1 },
        codeVersion: 'test',
      });
      await registry.setAlias({
        detector: 'orders',
        alias: 'champion',
        action: 'promote',
        version: meta.version,
        reason: 'trained',
      });
    }
  });

  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('makes an earlier version the champion and records why, with its metrics', async () => {
    const app = await buildApp({ registry, logger: false });

    const response = await app.inject({
      method: 'POST',
      url: '/models/orders/rollback',
      payload: { version: 1, reason: 'version 2 pages at night', by: 'oncall' },
    });

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ detector: 'orders', version: 1, previousVersion: 2 });
    expect(await registry.getAlias('orders', 'champion')).toBe(1);
    const last = (await registry.decisions('orders')).filter((d) => d.alias === 'champion').at(-1);
    expect(last).toMatchObject({
      action: 'rollback',
      version: 1,
      previousVersion: 2,
      reason: 'version 2 pages at night (by oncall)',
      metrics: { f1: 0.7 },
    });
    await app.close();
  });

  it('hands the rollback to the durable runner when one is configured', async () => {
    const asked: unknown[] = [];
    const app = await buildApp({
      registry,
      logger: false,
      rollback: async (input) => {
        asked.push(input);
        return { detector: input.detector, version: input.version, previousVersion: 2 };
      },
    });

    const response = await app.inject({
      method: 'POST',
      url: '/models/orders/rollback',
      payload: { version: 1, reason: 'drill' },
    });

    expect(response.statusCode).toBe(200);
    expect(asked).toEqual([{ detector: 'orders', version: 1, reason: 'drill' }]);
    expect(await registry.getAlias('orders', 'champion')).toBe(2);
    await app.close();
  });

  it('answers 404 VERSION_NOT_FOUND for a version that was never registered', async () => {
    const app = await buildApp({ registry, logger: false });

    const response = await app.inject({
      method: 'POST',
      url: '/models/orders/rollback',
      payload: { version: 9, reason: 'typo' },
    });

    expect(response.statusCode).toBe(404);
    expect(response.json().error).toMatchObject({
      code: 'VERSION_NOT_FOUND',
      message: "'version' (9) is not a version of detector 'orders'",
    });
    expect(await registry.getAlias('orders', 'champion')).toBe(2);
    await app.close();
  });
});
