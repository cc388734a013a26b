import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { LstmForecaster, toTfModel, trainLstmForecaster } from '../../ml/models/lstm.js';
import { createRandom, normal } from '../../ml/random.js';
import { initTfBackend } from '../../ml/tf-backend.js';

function noisySine(length: number, seed: number): Float64Array {
  const random = createRandom(seed);
  return Float64Array.from(
    { length },
    (_, t) => 10 + 3 * Math.sin((2 * Math.PI * t) / 24) + 0.1 * normal(random),
  );
}

const small = { windowPoints: 24, units: 8, epochs: 15, seed: 7 };

describe('LSTM forecaster', () => {
  it('forecasts a noisy sine closely and scores a planted spike far above normal points', async () => {
    await initTfBackend('wasm');
    const values = noisySine(700, 1);
    const model = await trainLstmForecaster(values.subarray(0, 500), small);

    const forecasts = model.forecastSeries(values);
    let absError = 0;
    for (let i = 500; i < 700; i++) absError += Math.abs(values[i]! - forecasts[i]!);
    // The sine's amplitude is 3 and the noise's standard deviation 0.1.
    expect(absError / 200).toBeLessThan(0.35);

    const spiked = values.slice();
    spiked[600] = spiked[600]! + 4;
    const scores = model.scoreSeries(spiked);
    let normalMax = 0;
    for (let i = 500; i < 600; i++) normalMax = Math.max(normalMax, scores[i]!);
    expect(scores[600]).toBeGreaterThan(3 * normalMax);
  }, 90_000);

  it('reports each epoch of training', async () => {
    await initTfBackend('wasm');
    const epochs: number[] = [];
    await trainLstmForecaster(noisySine(200, 2), { ...small, epochs: 3 }, (p) => epochs.push(p.epoch));
    expect(epochs).toEqual([1, 2, 3]);
  });

  it('gives the same forecasts as the TensorFlow.js network it was trained as', async () => {
    await initTfBackend('wasm');
    const values = noisySine(300, 3);
    const model = await trainLstmForecaster(values, { ...small, epochs: 2 });
    const network = toTfModel(model);
    const windows = new Float32Array(10 * 24);
    for (let n = 0; n < 10; n++) {
      for (let t = 0; t < 24; t++) windows[n * 24 + t] = (values[200 + n + t]! - model.center) / model.scale;
    }
    const input = tf.tensor3d(windows, [10, 24, 1]);
    const output = network.predict(input) as tf.Tensor;
    const predicted = output.dataSync();
    for (let n = 0; n < 10; n++) {
      expect(model.forecastAt(values, 224 + n)).toBeCloseTo(predicted[n]! * model.scale + model.center, 4);
    }
    tf.dispose([input, output]);
    network.dispose();
  });

  it('survives a round trip through JSON with identical scores', async () => {
    await initTfBackend('wasm');
    const values = noisySine(300, 4);
    const model = await trainLstmForecaster(values, { ...small, epochs: 2 });
    const loaded = LstmForecaster.fromJSON(JSON.parse(JSON.stringify(model.toJSON())));
    const a = model.scoreSeries(values);
    const b = loaded.scoreSeries(values);
    for (let i = 0; i < values.length; i++) expect(b[i]).toBeCloseTo(a[i]!, 10);
  });

  it('trains to scores that agree within 0.05 on the cpu and wasm backends', async () => {
    const values = noisySine(300, 5);
    const options = { windowPoints: 12, units: 4, epochs: 3, seed: 9 };
    await initTfBackend('cpu');
    const onCpu = (await trainLstmForecaster(values, options)).scoreSeries(values);
    await initTfBackend('wasm');
    const onWasm = (await trainLstmForecaster(values, options)).scoreSeries(values);
    let worst = 0;
    for (let i = 0; i < values.length; i++) worst = Math.max(worst, Math.abs(onCpu[i]! - onWasm[i]!));
    expect(worst).toBeLessThan(0.05);
  });
});
