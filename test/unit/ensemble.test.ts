import { describe, expect, it } from 'vitest';
import { fitEnsemble, loadEnsemble, type SerializedMember, trainMember } from '../../ml/ensemble.js';
import { createRandom, normal } from '../../ml/random.js';
import type { Series } from '../../ml/series.js';
import { initTfBackend } from '../../ml/tf-backend.js';

const stepMs = 15 * 60_000;

function dailySeries(name: string, from: number, length: number, seed: number): Series {
  const random = createRandom(seed);
  return {
    name,
    timestampsMs: Float64Array.from({ length }, (_, i) => Date.UTC(2024, 0, 1) + (from + i) * stepMs),
    values: Float64Array.from(
      { length },
      (_, i) => 50 + 10 * Math.sin((2 * Math.PI * (from + i)) / 96) + normal(random),
    ),
  };
}

describe('ensemble', () => {
  it('trains its members, weighs them without labels and flags a planted spike with an explanation', async () => {
    await initTfBackend('wasm');
    const train = dailySeries('train', 0, 480, 1);
    const validation = dailySeries('validation', 480, 288, 2);
    const options = { lstm: { epochs: 4, units: 8 }, forest: { trees: 50, seed: 3 } };
    const members: SerializedMember[] = [];
    for (const kind of ['isolation-forest', 'lstm', 'prophet'] as const) {
      members.push(await trainMember(kind, train, options));
    }

    const ensemble = JSON.parse(JSON.stringify(fitEnsemble(validation, members, { seed: 4 })));
    const weights = Object.values(ensemble.weights as Record<string, number>);
    expect(weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    expect(ensemble.threshold).toBeGreaterThan(0);
    expect(ensemble.threshold).toBeLessThan(1);

    const test = dailySeries('test', 768, 192, 5);
    test.values[120] = test.values[120]! + 15;
    const loaded = loadEnsemble(ensemble);
    const scored = loaded.score(test);
    expect(scored.flags[120]).toBe(true);
    const flaggedElsewhere = scored.flags.filter((f, i) => f && (i < 118 || i > 125)).length;
    expect(flaggedElsewhere).toBeLessThan(10);

    const why = scored.explanations(120);
    expect(why.flagged).toBe(true);
    expect(why.members).toHaveLength(3);
    expect(why.features.length).toBe(3);
    expect(Math.abs(why.features[0]!.robustZ)).toBeGreaterThan(3);
    loaded.free();
  }, 120_000);

  it('rejects an ensemble without members', () => {
    expect(() => fitEnsemble(dailySeries('v', 0, 100, 1), [])).toThrow(/at least one/);
  });
});
