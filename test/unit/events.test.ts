import { describe, expect, it } from 'vitest';
import { eventMetrics, injectAnomalies, robustScale, windowsToEvents } from '../../ml/evaluation/events.js';
import { createRandom, normal } from '../../ml/random.js';
import type { Series } from '../../ml/series.js';

function flagsAt(length: number, indices: number[]): boolean[] {
  const flags = new Array<boolean>(length).fill(false);
  for (const i of indices) flags[i] = true;
  return flags;
}

function gaussianSeries(length: number, seed: number): Series {
  const random = createRandom(seed);
  return {
    name: 'gaussian',
    timestampsMs: Float64Array.from({ length }, (_, i) => i * 60_000),
    values: Float64Array.from({ length }, () => 50 + 2 * normal(random)),
  };
}

describe('eventMetrics', () => {
  it('counts an event once however many of its points are flagged, and each run outside events as one false alarm', () => {
    const events = [
      { start: 10, end: 14 },
      { start: 40, end: 40 },
      { start: 70, end: 75 },
    ];
    // Three flags inside the first event, none in the second, one in the third; two separate
    // false runs (20-22 and 50).
    const flags = flagsAt(100, [10, 11, 13, 20, 21, 22, 50, 75]);

    expect(eventMetrics(flags, events)).toEqual({
      events: 3,
      detectedEvents: 2,
      falseAlarms: 2,
      precision: 0.5,
      recall: 2 / 3,
      f1: expect.closeTo((2 * 0.5 * (2 / 3)) / (0.5 + 2 / 3), 12),
      flaggedRate: 0.08,
    });
  });

  it('counts flags within the grace period after an event as part of it, not as false alarms', () => {
    const events = [{ start: 10, end: 12 }];
    const flags = flagsAt(50, [12, 13, 14, 15, 30]);

    expect(eventMetrics(flags, events, 0).falseAlarms).toBe(2);
    expect(eventMetrics(flags, events, 3).falseAlarms).toBe(1);
  });

  it('does not credit an event with a flag that only falls in its grace period', () => {
    const metrics = eventMetrics(flagsAt(50, [13]), [{ start: 10, end: 12 }], 5);

    expect(metrics.detectedEvents).toBe(0);
    expect(metrics.falseAlarms).toBe(0);
    expect(metrics.recall).toBe(0);
    expect(metrics.f1).toBe(0);
  });

  it('scores a silent detector on a series without events as perfect', () => {
    expect(eventMetrics(flagsAt(20, []), [])).toEqual({
      events: 0,
      detectedEvents: 0,
      falseAlarms: 0,
      precision: 1,
      recall: 1,
      f1: 1,
      flaggedRate: 0,
    });
  });

  it('clips events that reach past either end of the series', () => {
    const metrics = eventMetrics(flagsAt(10, [0, 9]), [
      { start: -5, end: 0 },
      { start: 9, end: 20 },
    ]);

    expect(metrics.detectedEvents).toBe(2);
    expect(metrics.falseAlarms).toBe(0);
  });
});

describe('injectAnomalies', () => {
  const series = gaussianSeries(3_000, 1);

  it('plants the requested number of events, evenly spaced, cycling level shift, variance burst and spike', () => {
    const { events } = injectAnomalies(series, { perThousand: 2, seed: 3 });

    // 6 events, spacing floor(3000 / 7) = 428; bursts and shifts last min(30, 428 / 4) points.
    expect(events).toEqual([
      { start: 428, end: 457 },
      { start: 856, end: 885 },
      { start: 1284, end: 1284 },
      { start: 1712, end: 1741 },
      { start: 2140, end: 2169 },
      { start: 2568, end: 2568 },
    ]);
  });

  it('changes only the points inside events and leaves the input series untouched', () => {
    const original = Float64Array.from(series.values);

    const { series: planted, events } = injectAnomalies(series, { seed: 3 });

    expect(series.values).toEqual(original);
    expect(planted.timestampsMs).toBe(series.timestampsMs);
    const inside = (i: number) => events.some((e) => i >= e.start && i <= e.end);
    for (let i = 0; i < original.length; i++) {
      if (!inside(i)) expect(planted.values[i]).toBe(original[i]);
    }
  });

  it('makes spikes of the requested height in robust standard deviations', () => {
    const scale = robustScale(series.values);

    const { series: planted, events } = injectAnomalies(series, { magnitude: 8, seed: 3 });

    const spike = events[2]!;
    const jump = planted.values[spike.start]! - series.values[spike.start]!;
    expect(Math.abs(jump)).toBeCloseTo(8 * scale, 9);
    // Level shifts move every point of their span by three quarters of that.
    const shift = events[0]!;
    const moved = planted.values[shift.start]! - series.values[shift.start]!;
    for (let i = shift.start; i <= shift.end; i++) {
      expect(planted.values[i]! - series.values[i]!).toBeCloseTo(moved, 9);
    }
    expect(Math.abs(moved)).toBeCloseTo(6 * scale, 9);
  });

  it('plants the same anomalies for the same seed', () => {
    const first = injectAnomalies(series, { seed: 9 });
    const again = injectAnomalies(series, { seed: 9 });
    const other = injectAnomalies(series, { seed: 10 });

    expect(again).toEqual(first);
    expect(other.series.values).not.toEqual(first.series.values);
  });

  it('plants at least one event in a short series', () => {
    expect(injectAnomalies(gaussianSeries(100, 2), { perThousand: 2 }).events).toHaveLength(1);
  });
});

describe('robustScale', () => {
  it('estimates the standard deviation of Gaussian data from the median absolute deviation', () => {
    expect(robustScale(gaussianSeries(20_000, 4).values)).toBeCloseTo(2, 1);
  });

  it('is not inflated by a few huge outliers the way a standard deviation is', () => {
    const values = Float64Array.from(gaussianSeries(2_000, 5).values);
    for (let i = 0; i < 20; i++) values[i * 100] = 1e6;

    expect(robustScale(values)).toBeCloseTo(2, 0);
  });

  it('falls back to the standard deviation when more than half the values are equal', () => {
    const values = [...new Array(60).fill(5), ...new Array(40).fill(15)];

    // Mean 9, std sqrt(0.6 · 16 + 0.4 · 36) = sqrt(24).
    expect(robustScale(values)).toBeCloseTo(Math.sqrt(24), 12);
  });

  it('falls back to a hundredth of the level, or 1, on a flat series', () => {
    expect(robustScale(new Array(10).fill(500))).toBe(5);
    expect(robustScale(new Array(10).fill(0))).toBe(1);
  });
});

describe('windowsToEvents', () => {
  it('turns labelled time windows into inclusive index spans and drops windows with no points', () => {
    const timestampsMs = Float64Array.from({ length: 10 }, (_, i) => i * 1_000);

    const events = windowsToEvents(timestampsMs, [
      [2_000, 4_000],
      [4_500, 4_900],
      [8_500, 20_000],
    ]);

    expect(events).toEqual([
      { start: 2, end: 4 },
      { start: 9, end: 9 },
    ]);
  });
});
