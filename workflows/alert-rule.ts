/**
 * When the scoring loop fires and resolves an alert: `alertAfterSteps` flagged steps in a row fire
 * it, `resolveAfterSteps` clean steps in a row resolve it. Pure, so the loop and anything that
 * replays scores offline (tests, benchmarks) apply the same rule.
 */
export interface AlertStreaks {
  readonly flaggedStreak: number;
  readonly cleanStreak: number;
}

export interface AlertRule {
  readonly alertAfterSteps: number;
  readonly resolveAfterSteps: number;
}

/** The streaks after one scoring step, and whether the step fires or resolves the alert. */
export function alertStep(
  streaks: AlertStreaks,
  open: boolean,
  flagged: boolean,
  rule: AlertRule,
): AlertStreaks & { readonly transition: 'fire' | 'resolve' | undefined } {
  const flaggedStreak = flagged ? streaks.flaggedStreak + 1 : 0;
  const cleanStreak = flagged ? 0 : streaks.cleanStreak + 1;
  const transition =
    !open && flaggedStreak >= rule.alertAfterSteps
      ? 'fire'
      : open && cleanStreak >= rule.resolveAfterSteps
        ? 'resolve'
        : undefined;
  return { flaggedStreak, cleanStreak, transition };
}
