import { describe, expect, it } from 'vitest';
import { NAB_AIMS, type NabTargetsInput, nabTargets } from '../../bench/nab-targets.js';
import type { NabCorpusResult } from '../../ml/evaluation/nab-scorer.js';
import {
  type AlertComparisonSummary,
  type AlertSideSummary,
  FALSE_ALARM_PLACE_DEFAULTS,
} from '../../ml/evaluation/static-threshold.js';

function side(falseAlarms: number, falseRows: number, days: number, recall = 0.9): AlertSideSummary {
  return {
    recall,
    falseAlarmsPerDay: falseAlarms / days,
    falsePositiveRowsPerDay: falseRows / days,
    medianDelayMinutes: 10,
    falseAlarmPlaces: { startUp: 0, afterWindow: 0, beforeWindow: 0, elsewhere: falseAlarms },
  };
}

function input(options: {
  standard: number;
  lowFp: number;
  detector: AlertSideSummary;
  rule: AlertSideSummary;
  gradualGain: number | null;
  seconds?: number;
}): NabTargetsInput {
  const profile = (normalisedScore: number) => ({ normalisedScore });
  // Only the fields the targets read; the rest of a corpus result plays no part.
  const corpus = {
    files: 31,
    profiles: {
      standard: profile(options.standard),
      reward_low_FP_rate: profile(options.lowFp),
      reward_low_FN_rate: profile(options.standard + 5),
    },
  } as unknown as NabCorpusResult;
  const staticThreshold: AlertComparisonSummary = {
    files: 26,
    windows: 53,
    scoredDays: 100,
    episodeGapMinutes: 60,
    falseAlarmPlaceOptions: FALSE_ALARM_PLACE_DEFAULTS,
    detector: options.detector,
    staticThreshold: options.rule,
    comparableWindows: 40,
    medianGainMinutes: 0,
    gradualWindows: options.gradualGain === null ? 0 : 12,
    medianGainOnGradualMinutes: options.gradualGain,
    perFile: [],
  };
  return {
    corpus,
    staticThreshold,
    ...(options.seconds !== undefined ? { seconds: options.seconds } : {}),
  };
}

const byTarget = (rows: ReturnType<typeof nabTargets>, prefix: string) => {
  const row = rows.find((r) => r.target.startsWith(prefix));
  if (!row) throw new Error(`no target starting '${prefix}'`);
  return row;
};

describe('nabTargets', () => {
  it('marks every aim met when each figure clears it', () => {
    const rows = nabTargets(
      input({
        standard: 75.4,
        lowFp: 67.7,
        detector: side(10, 12, 100),
        rule: side(100, 900, 100),
        gradualGain: 135,
        seconds: 142,
      }),
    );
    expect(rows).toHaveLength(6);
    expect(rows.every((r) => r.met)).toBe(true);
    expect(byTarget(rows, 'false alarms (pages)').measured).toBe('90.0% fewer (10 against 100)');
    expect(byTarget(rows, 'false alarms (pages)').target).toContain('90.0% recall');
    expect(byTarget(rows, 'earlier').measured).toBe('135 min');
  });

  it('judges pages and rows separately, and each aim by its own figure', () => {
    const rows = nabTargets(
      input({
        standard: 74.9,
        lowFp: 67,
        detector: side(72, 73, 100),
        rule: side(272, 9727, 100),
        gradualGain: 29,
        seconds: NAB_AIMS.seconds,
      }),
    );
    expect(byTarget(rows, 'NAB standard').met).toBe(false);
    expect(byTarget(rows, 'NAB reward_low_FP').met).toBe(true);
    const pages = byTarget(rows, 'false alarms (pages)');
    expect(pages.met).toBe(false);
    expect(pages.measured).toBe('73.5% fewer (72 against 272)');
    expect(byTarget(rows, 'false positive rows').met).toBe(true);
    expect(byTarget(rows, 'earlier').met).toBe(false);
    expect(byTarget(rows, 'wall time').met).toBe(false);
  });

  it('leaves time unjudged when saved results were scored again', () => {
    const rows = nabTargets(
      input({ standard: 75, lowFp: 67, detector: side(1, 1, 100), rule: side(9, 9, 100), gradualGain: 40 }),
    );
    expect(rows).toHaveLength(5);
    expect(rows.some((r) => r.target.startsWith('wall time'))).toBe(false);
  });

  it('says more, not a negative fewer, when the detector raises more than the rule', () => {
    const rows = nabTargets(
      input({
        standard: 50,
        lowFp: 40,
        detector: side(30, 30, 100),
        rule: side(20, 20, 100),
        gradualGain: null,
        seconds: 60,
      }),
    );
    expect(byTarget(rows, 'false alarms (pages)').measured).toBe('50.0% more (30 against 20)');
    expect(byTarget(rows, 'earlier').measured).toBe('no such window');
    expect(byTarget(rows, 'earlier').met).toBe(false);
  });

  it('meets the false-alarm aim against a silent rule only when the detector is silent too', () => {
    const quiet = nabTargets(
      input({
        standard: 80,
        lowFp: 70,
        detector: side(0, 0, 100),
        rule: side(0, 0, 100),
        gradualGain: 40,
        seconds: 60,
      }),
    );
    expect(byTarget(quiet, 'false alarms (pages)').met).toBe(true);
    const noisy = nabTargets(
      input({
        standard: 80,
        lowFp: 70,
        detector: side(2, 2, 100),
        rule: side(0, 0, 100),
        gradualGain: 40,
        seconds: 60,
      }),
    );
    expect(byTarget(noisy, 'false alarms (pages)').met).toBe(false);
    expect(byTarget(noisy, 'false alarms (pages)').measured).toBe('2 against 0: the rule raises none');
  });
});
