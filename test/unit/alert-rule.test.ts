import { describe, expect, it } from 'vitest';
import { type AlertStreaks, alertStep } from '../../workflows/alert-rule.js';

/** The transitions over a run of steps, starting quiet. */
function transitions(flags: readonly boolean[], rule = { alertAfterSteps: 3, resolveAfterSteps: 2 }) {
  let streaks: AlertStreaks = { flaggedStreak: 0, cleanStreak: 0 };
  let open = false;
  return flags.map((flagged) => {
    const step = alertStep(streaks, open, flagged, rule);
    streaks = step;
    if (step.transition) open = step.transition === 'fire';
    return step.transition ?? '-';
  });
}

describe('alertStep', () => {
  it('fires after the configured flagged steps in a row and resolves after the clean ones', () => {
    const f = true;
    const c = false;
    expect(transitions([f, f, c, f, f, f, f, c, f, c, c, c])).toEqual([
      '-',
      '-',
      '-',
      '-',
      '-',
      'fire',
      '-',
      '-',
      '-',
      '-',
      'resolve',
      '-',
    ]);
  });

  it('fires on the first flagged step when one is enough, and never twice while open', () => {
    expect(transitions([true, true, false, true], { alertAfterSteps: 1, resolveAfterSteps: 2 })).toEqual([
      'fire',
      '-',
      '-',
      '-',
    ]);
  });
});
