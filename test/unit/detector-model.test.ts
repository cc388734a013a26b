import { describe, expect, it } from 'vitest';
import { loadDetectorModel, trainDetectorModel } from '../../ml/detector-model.js';
import { type Series, sliceSeries } from '../../ml/series.js';
import { parseDetectorSpec } from '../../ml/spec.js';
import { simulatedWorkloadDetector } from '../../sim/live-detector.js';
import { simulateSource } from '../../sim/source.js';

// One day of history: the hours it leaves out are what the hourly range guards must handle.
const spec = parseDetectorSpec(simulatedWorkloadDetector({ name: 'cpu', trainingDays: 1 }));
const source = spec.source as Parameters<typeof simulateSource>[0];
// Training ends at 02:00 UTC, the simulated frontend's quietest hour.
const TRAINED_UNTIL = Date.parse('2026-12-04T02:00:00Z');

function trainedAtNight() {
  const history = simulateSource(source, TRAINED_UNTIL);
  const n = history.values.length;
  return trainDetectorModel(
    sliceSeries(history, 0, Math.floor(n * 0.6)),
    sliceSeries(history, Math.floor(n * 0.6), Math.floor(n * 0.8)),
    {
      features: spec.features,
      forest: spec.model,
      targetAnomalyRate: spec.targetAnomalyRate,
    },
  );
}

/** Ten live minutes after training, multiplied by `factor` from minute 2 to minute 7. */
function liveWithPlateau(factor: number): { series: Series; plateau: (i: number) => boolean } {
  const live = simulateSource({ ...source, days: 10 / 1440 }, TRAINED_UNTIL + 600_000);
  const t0 = live.timestampsMs[0]!;
  const plateau = (i: number) =>
    live.timestampsMs[i]! - t0 >= 120_000 && live.timestampsMs[i]! - t0 < 420_000;
  const values = Float64Array.from(live.values, (v, i) => (plateau(i) ? v * factor : v));
  return { series: { ...live, values }, plateau };
}

describe('the range guards of a forest model', () => {
  it('keeps a plateau of three times the night level flagged throughout, though the afternoon peak comes close to it', async () => {
    const model = trainedAtNight();
    const { series, plateau } = liveWithPlateau(3);
    const peak = simulateSource(source, TRAINED_UNTIL).values.reduce((a, b) => Math.max(a, b));

    const { flags } = (await loadDetectorModel(model)).score(series);

    const inside = flags.filter((_, i) => plateau(i));
    expect(Math.max(...series.values.filter((_, i) => plateau(i)))).toBeLessThan(peak * 1.3);
    expect(inside.filter(Boolean).length / inside.length).toBeGreaterThan(0.95);
    // A minute after it ends, the rolling features have forgotten it.
    const after = flags.filter((_, i) => series.timestampsMs[i]! - series.timestampsMs[0]! >= 480_000);
    expect(after.filter(Boolean).length / after.length).toBeLessThan(0.05);
  });

  it('lets the plateau fade once the rolling features settle when the hourly levels are absent', async () => {
    const { levelByHour, ...withoutHourly } = trainedAtNight();
    const { series, plateau } = liveWithPlateau(3);

    const { flags } = (await loadDetectorModel(withoutHourly)).score(series);

    expect(levelByHour).toBeDefined();
    const inside = flags.filter((_, i) => plateau(i));
    expect(inside.filter(Boolean).length / inside.length).toBeLessThan(0.5);
  });

  it('records the level of each hour training saw, and none for the hours it did not', () => {
    const { levelByHour } = trainedAtNight();

    // The training split covers 02:00 to 16:24 of the day before.
    expect(levelByHour!.map((level) => level !== null)).toEqual(
      Array.from({ length: 24 }, (_, h) => h >= 2 && h <= 16),
    );
    expect(levelByHour![3]!.max).toBeLessThan(levelByHour![14]!.max);
    expect(levelByHour![3]!.scale).toBeGreaterThan(0);
  });
});
