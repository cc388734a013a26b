import { describe, expect, it } from 'vitest';
import { AnomalyLikelihood, erfc, gaussianUpperTail, logTailScore } from '../../ml/calibration.js';
import { createRandom } from '../../ml/random.js';

describe('anomaly likelihood', () => {
  it('computes the Gaussian upper tail to within the approximation error', () => {
    expect(gaussianUpperTail(0)).toBeCloseTo(0.5, 6);
    expect(gaussianUpperTail(1.959964)).toBeCloseTo(0.025, 6);
    expect(erfc(-1)).toBeCloseTo(2 - 0.157299207, 6);
  });

  it('maps tail probabilities to a log scale in [0, 1]', () => {
    expect(logTailScore(1)).toBeCloseTo(0, 12);
    expect(logTailScore(1e-5)).toBeCloseTo(0.5, 12);
    expect(logTailScore(1e-30)).toBe(1);
  });

  it('reports no surprise until it has enough history', () => {
    const l = new AnomalyLikelihood({ minHistoryPoints: 10 });
    for (let i = 0; i < 10; i++) expect(l.update(i === 5 ? 100 : 1)).toBe(1);
  });

  it('gives a sustained jump in raw scores a far smaller tail probability than ordinary noise', () => {
    const random = createRandom(5);
    const l = new AnomalyLikelihood({ shortPoints: 5, historyPoints: 500, minHistoryPoints: 50 });
    let smallestNormal = 1;
    for (let i = 0; i < 400; i++) smallestNormal = Math.min(smallestNormal, l.update(random()));
    let jump = 1;
    for (let i = 0; i < 5; i++) jump = l.update(3);
    expect(smallestNormal).toBeGreaterThan(1e-4);
    expect(jump).toBeLessThan(1e-12);
  });

  it('needs a larger raw score to be surprised by a model that is often wrong', () => {
    const quiet = new AnomalyLikelihood({ shortPoints: 1 });
    const noisy = new AnomalyLikelihood({ shortPoints: 1 });
    const random = createRandom(9);
    for (let i = 0; i < 300; i++) {
      quiet.update(0.1 * random());
      noisy.update(2 * random());
    }
    expect(quiet.update(2)).toBeLessThan(noisy.update(2));
  });
});
