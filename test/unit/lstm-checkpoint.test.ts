import { describe, expect, it } from 'vitest';
import { type LstmTrainingCheckpoint, trainLstmForecaster } from '../../ml/models/lstm.js';
import { createRandom, normal } from '../../ml/random.js';
import { initTfBackend } from '../../ml/tf-backend.js';

const random = createRandom(11);
const values = Float64Array.from(
  { length: 240 },
  (_, i) => Math.sin((2 * Math.PI * i) / 24) + 0.1 * normal(random),
);
const options = { windowPoints: 8, units: 4, epochs: 4, batchSize: 16, seed: 5 };

describe('LSTM training checkpoints', () => {
  it('resumes from a checkpoint to the same weights as an uninterrupted run', async () => {
    await initTfBackend();
    const uninterrupted = await trainLstmForecaster(values, options);

    const checkpoints: LstmTrainingCheckpoint[] = [];
    await trainLstmForecaster(values, { ...options, epochs: 4 }, undefined, {
      onCheckpoint: async (c) => {
        checkpoints.push(c);
      },
    });
    // A crash after epoch 2: a new run picks up from that checkpoint.
    const afterTwo = checkpoints.find((c) => c.epoch === 2)!;
    const epochsRun: number[] = [];
    const resumed = await trainLstmForecaster(values, options, (p) => epochsRun.push(p.epoch), {
      resumeFrom: JSON.parse(JSON.stringify(afterTwo)),
    });

    expect(checkpoints.map((c) => c.epoch)).toEqual([1, 2, 3]);
    expect(epochsRun).toEqual([3, 4]);
    const a = uninterrupted.forecastSeries(values);
    const b = resumed.forecastSeries(values);
    for (let i = options.windowPoints; i < values.length; i++) expect(b[i]).toBeCloseTo(a[i]!, 5);
  });

  it('refuses a checkpoint of another architecture, naming both', async () => {
    await initTfBackend();
    const checkpoints: LstmTrainingCheckpoint[] = [];
    await trainLstmForecaster(values, { ...options, epochs: 2 }, undefined, {
      onCheckpoint: async (c) => {
        checkpoints.push(c);
      },
    });

    await expect(
      trainLstmForecaster(values, { ...options, units: 6 }, undefined, { resumeFrom: checkpoints[0]! }),
    ).rejects.toThrow(/LSTM checkpoint \(epoch 1, weights 1x16,4x16,16,4x1,1\) does not fit this run/);
  });
});
