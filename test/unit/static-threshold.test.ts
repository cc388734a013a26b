import { describe, expect, it } from 'vitest';
import {
  type AlertComparisonFile,
  alertEpisodes,
  bestStaticRule,
  buildsUpGradually,
  compareWithStaticThreshold,
  falseAlarmPlace,
} from '../../ml/evaluation/static-threshold.js';

const STEP_MS = 5 * 60_000;

function file(values: number[], windowRows: [number, number][], alerts: boolean[]): AlertComparisonFile {
  return {
    name: 'f.csv',
    timestampsMs: values.map((_, i) => i * STEP_MS),
    values,
    windowRows,
    probationaryPoints: 2,
    detectorAlerts: alerts,
  };
}

describe('alert episodes', () => {
  it('merges detections closer than the gap and marks episodes that touch no window as false alarms', () => {
    const alerts = new Array(40).fill(false);
    for (const i of [0, 5, 6, 8, 20, 35]) alerts[i] = true;
    const f = file(new Array(40).fill(0), [[19, 22]], alerts);
    const episodes = alertEpisodes(f, alerts, 15 * 60_000);
    // Row 0 is probationary; rows 5, 6 and 8 are 15 minutes apart at most, so one episode.
    expect(episodes).toEqual([
      { firstRow: 5, lastRow: 8, falseAlarm: true },
      { firstRow: 20, lastRow: 20, falseAlarm: false },
      { firstRow: 35, lastRow: 35, falseAlarm: true },
    ]);
  });
});

describe('false positives', () => {
  it('counts a long run outside the windows as one false alarm but every row of it as a false positive', () => {
    const values = new Array(30).fill(0);
    const alerts = values.map((_, i) => i >= 10 && i < 16);
    const summary = compareWithStaticThreshold([file(values, [[25, 27]], alerts)]);

    expect(summary.perFile[0]!.detector).toMatchObject({ falseAlarms: 1, falsePositiveRows: 6 });
    const days = (27 * STEP_MS) / 86_400_000;
    expect(summary.detector.falseAlarmsPerDay).toBeCloseTo(1 / days, 9);
    expect(summary.detector.falsePositiveRowsPerDay).toBeCloseTo(6 / days, 9);
  });
});

describe('where false alarms fall', () => {
  // Probationary rows 0-1, start-up rows 2-6, a window of 4 rows at 20-23.
  const at = { windowRows: [[20, 23]] as [number, number][], probationaryPoints: 2 };
  const options = { startUpRows: 5 };

  it('names start-up, after, before and elsewhere by the first row, in that order of precedence', () => {
    expect(falseAlarmPlace(at, 6, options)).toBe('startUp');
    expect(falseAlarmPlace(at, 7, options)).toBe('elsewhere');
    // One window length (4 rows) before the window, three after it.
    expect(falseAlarmPlace(at, 15, options)).toBe('elsewhere');
    expect(falseAlarmPlace(at, 16, options)).toBe('beforeWindow');
    expect(falseAlarmPlace(at, 19, options)).toBe('beforeWindow');
    expect(falseAlarmPlace(at, 24, options)).toBe('afterWindow');
    expect(falseAlarmPlace(at, 35, options)).toBe('afterWindow');
    expect(falseAlarmPlace(at, 36, options)).toBe('elsewhere');
    expect(falseAlarmPlace({ ...at, probationaryPoints: 30 }, 34, options)).toBe('startUp');
  });

  it('sums the places of each side over the files, and they add up to the false alarms', () => {
    const values = new Array(60).fill(0);
    values[30] = 5;
    const alerts = values.map((_, i) => [4, 12, 18, 27, 45].includes(i));
    // The rule must catch the window, so it fires on row 30 only and raises no false alarm.
    const summary = compareWithStaticThreshold([file(values, [[20, 23]], alerts)], {
      episodeGapMs: 60_000,
      startUpRows: 5,
    });

    expect(summary.detector.falseAlarmPlaces).toEqual({
      startUp: 1,
      afterWindow: 1,
      beforeWindow: 1,
      elsewhere: 2,
    });
    expect(summary.perFile[0]!.detector.falseAlarms).toBe(5);
    expect(summary.staticThreshold.falseAlarmPlaces).toEqual({
      startUp: 0,
      afterWindow: 0,
      beforeWindow: 0,
      elsewhere: 0,
    });
  });
});

describe('best static rule', () => {
  it('takes the highest threshold that still catches the windows the detector caught', () => {
    const values = [0, 0, 1, 9, 1, 1, 6, 7, 1, 1, 1, 8, 1];
    const f = file(values, [[5, 7]], new Array(values.length).fill(false));
    const { rule, outcome } = bestStaticRule(f, 1, 60_000);
    expect(rule).toEqual({ direction: 'above', threshold: 7 });
    // Row 3 (9) and row 11 (8) fire outside the window; row 7 is the first firing row inside it.
    expect(outcome.falseAlarms).toBe(2);
    expect(outcome.falsePositiveRows).toBe(2);
    expect(outcome.delaysMs).toEqual([2 * STEP_MS]);
  });

  it('watches the downward side when the anomaly is a drop', () => {
    const values = [5, 5, 5, 5, 5, 5, 1, 5, 5, 5];
    const f = file(values, [[5, 7]], new Array(values.length).fill(false));
    expect(bestStaticRule(f, 1, 60_000).rule).toEqual({ direction: 'below', threshold: 1 });
  });
});

describe('comparison with a static threshold', () => {
  it('reports the detector earlier on a window that builds up before the rule can fire', () => {
    // A ramp inside the window: the detector fires at its second row, the rule only at the peak.
    // A one-minute episode gap makes every firing row its own episode.
    const values = [1, 1, 1, 1, 1, 1, 2, 3, 4, 5, 1, 1];
    const alerts = values.map((_, i) => i === 7);
    const summary = compareWithStaticThreshold([file(values, [[6, 9]], alerts)], { episodeGapMs: 60_000 });
    expect(summary.perFile[0]!.rule).toEqual({ direction: 'above', threshold: 5 });
    expect(summary.detector.recall).toBeCloseTo(1, 12);
    expect(summary.staticThreshold.recall).toBeCloseTo(1, 12);
    expect(summary.comparableWindows).toBe(1);
    expect(summary.medianGainMinutes).toBeCloseTo(2 * 5, 9);
    expect(summary.gradualWindows).toBe(1);
    expect(summary.medianGainOnGradualMinutes).toBeCloseTo(2 * 5, 9);
    expect(summary.detector.falseAlarmsPerDay).toBe(0);
  });

  it('counts a window that jumps over the threshold as comparable but not gradual', () => {
    // Both fire at the jump: nothing could have seen it coming.
    const values = [1, 1, 1, 1, 1, 1, 1, 6, 6, 1, 1, 1];
    const alerts = values.map((_, i) => i === 7);
    const summary = compareWithStaticThreshold([file(values, [[6, 9]], alerts)], { episodeGapMs: 60_000 });

    expect(summary.comparableWindows).toBe(1);
    expect(summary.medianGainMinutes).toBe(0);
    expect(summary.gradualWindows).toBe(0);
    expect(summary.medianGainOnGradualMinutes).toBeNull();
  });
});

describe('buildsUpGradually', () => {
  const ramp = { timestampsMs: [0, 1, 2, 3, 4, 5, 6].map((i) => i * STEP_MS), values: [2, 2, 2, 3, 4, 5, 6] };

  it('takes a rise in steps of less than half the way to the threshold as building up', () => {
    // Baseline 2, threshold 6: the last step (5 to 6) is a quarter of the way.
    expect(buildsUpGradually(ramp, 3, 3 * STEP_MS, 6)).toBe(true);
  });

  it('takes a step of half the way or more as a jump', () => {
    const jump = { ...ramp, values: [2, 2, 2, 2, 2, 2, 6] };
    expect(buildsUpGradually(jump, 3, 3 * STEP_MS, 6)).toBe(false);
    const halfway = { ...ramp, values: [2, 2, 2, 2, 2, 4, 6] };
    expect(buildsUpGradually(halfway, 3, 3 * STEP_MS, 6)).toBe(false);
  });

  it('works downwards, on a drop towards a lower threshold', () => {
    const drop = { ...ramp, values: [9, 9, 9, 8, 7, 6, 5] };
    expect(buildsUpGradually(drop, 3, 3 * STEP_MS, 5)).toBe(true);
  });
});
