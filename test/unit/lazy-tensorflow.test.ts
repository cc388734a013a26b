import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fitEnsembleModel, trainDetectorModel } from '../../ml/detector-model.js';
import { trainLstmForecaster } from '../../ml/models/lstm.js';
import { createRandom, normal } from '../../ml/random.js';
import { createSeries, sliceSeries } from '../../ml/series.js';
import { initTfBackend } from '../../ml/tf-backend.js';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * Loads the forest model, then the ensemble, in a fresh Node process (this one has TensorFlow.js
 * loaded already) and reports after each whether TensorFlow.js's engine exists yet.
 */
const CHILD = `
const { readFile } = await import('node:fs/promises');
await import(${JSON.stringify(pathToFileURL(join(ROOT, 'api/app.ts')).href)});
const { loadDetectorModel } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'ml/detector-model.ts')).href)});
const { forest, ensemble, series } = JSON.parse(await readFile(process.argv[1], 'utf8'));
const seen = [];
await loadDetectorModel(forest);
seen.push('_tfengine' in globalThis);
const loaded = await loadDetectorModel(ensemble);
seen.push('_tfengine' in globalThis);
const scored = loaded.score({ name: 's', timestampsMs: Float64Array.from(series.t), values: Float64Array.from(series.v) });
console.log(JSON.stringify({ seen, scored: scored.scores.length }));
`;

describe('TensorFlow.js loading', () => {
  it('stays out of a process until a model with an LSTM member is loaded', async () => {
    await initTfBackend();
    const random = createRandom(7);
    const series = createSeries(
      'daily',
      Array.from({ length: 900 }, (_, i) => 1_700_000_000_000 + i * 600_000),
      Array.from(
        { length: 900 },
        (_, i) => 10 + 3 * Math.sin((2 * Math.PI * i) / 144) + 0.3 * normal(random),
      ),
    );
    const train = sliceSeries(series, 0, 600);
    const validation = sliceSeries(series, 600, 800);
    const features = { windowsPoints: [12], diffLags: [1] };
    const forest = trainDetectorModel(train, validation, {
      features,
      forest: { trees: 20, seed: 1 },
      targetAnomalyRate: 0.01,
    });
    const lstm = await trainLstmForecaster(train.values, { windowPoints: 12, units: 4, epochs: 1, seed: 1 });
    const ensemble = await fitEnsembleModel(
      [
        { kind: 'isolation-forest', model: forest, weight: 1 },
        { kind: 'lstm', model: lstm.toJSON(), weight: 1 },
      ],
      train,
      validation,
      { features, targetAnomalyRate: 0.01 },
    );
    const tail = sliceSeries(series, 800);

    const dir = await mkdtemp(join(tmpdir(), 'lazy-tf-'));
    try {
      const input = join(dir, 'models.json');
      await writeFile(
        input,
        JSON.stringify({
          forest,
          ensemble,
          series: { t: Array.from(tail.timestampsMs), v: Array.from(tail.values) },
        }),
      );
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', CHILD, input],
        { cwd: ROOT },
      );
      expect(JSON.parse(stdout.trim())).toEqual({ seen: [false, true], scored: tail.values.length });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
