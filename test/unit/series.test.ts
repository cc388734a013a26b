import { describe, expect, it } from 'vitest';
import { createSeries, dropSettlingAfterGaps } from '../../ml/series.js';

const STEP = 2_000;

function seriesAt(timestampsMs: number[]) {
  return createSeries(
    'cpu',
    timestampsMs,
    timestampsMs.map((t) => t / 1000),
  );
}

describe('dropSettlingAfterGaps', () => {
  it('drops the points within the settle time after a gap and keeps the rest', () => {
    const before = [0, 2, 4, 6].map((s) => s * 1000);
    const after = [30, 32, 34, 36, 38, 40, 42].map((s) => s * 1000);

    const { series, dropped } = dropSettlingAfterGaps(seriesAt([...before, ...after]), STEP, 10_000);

    expect(dropped).toBe(5);
    expect(Array.from(series.timestampsMs)).toEqual([...before, 40_000, 42_000]);
    expect(Array.from(series.values)).toEqual([0, 2, 4, 6, 40, 42]);
  });

  it('leaves a series without gaps, or with settling off, as it is', () => {
    const regular = seriesAt([0, 2, 4, 6, 8].map((s) => s * 1000));
    const gapped = seriesAt([0, 2, 20, 22].map((s) => s * 1000));

    expect(dropSettlingAfterGaps(regular, STEP, 10_000)).toEqual({ series: regular, dropped: 0 });
    expect(dropSettlingAfterGaps(gapped, STEP, 0)).toEqual({ series: gapped, dropped: 0 });
  });

  it('takes a missed scrape or two within 1.5 steps as no gap', () => {
    const jittered = seriesAt([0, 2, 5, 7, 9].map((s) => s * 1000));

    expect(dropSettlingAfterGaps(jittered, STEP, 10_000).dropped).toBe(0);
  });

  it('settles again after each of two gaps', () => {
    const { series } = dropSettlingAfterGaps(
      seriesAt([0, 2, 10, 12, 14, 30, 32, 34].map((s) => s * 1000)),
      STEP,
      4_000,
    );

    expect(Array.from(series.timestampsMs)).toEqual([0, 2_000, 14_000, 34_000]);
  });
});
