import { describe, expect, it } from 'vitest';
import { CapacityError, recommendReplicas, type StabilisationState, stabilise } from '../../ml/capacity.js';

const bounds = { minReplicas: 2, maxReplicas: 10 };
const options = { scaleDownAfter: 3, hysteresis: 0.1 };

describe('recommendReplicas', () => {
  it('divides the forecast peak by the request per pod at the target utilisation and rounds up', () => {
    const result = recommendReplicas({
      ...bounds,
      targetUtilisation: 0.5,
      demands: { cpu: { peakForecast: 2.1, requestPerPod: 0.5 } },
    });

    expect(result).toEqual({ replicas: 9, neededPods: 8.4, drivenBy: 'cpu', perResource: { cpu: 8.4 } });
  });

  it('sizes for the resource that needs the most pods', () => {
    const GiB = 1024 ** 3;
    const result = recommendReplicas({
      ...bounds,
      targetUtilisation: 0.8,
      demands: {
        cpu: { peakForecast: 1.6, requestPerPod: 1 },
        memory: { peakForecast: 4 * GiB, requestPerPod: 1 * GiB },
      },
    });

    expect(result.replicas).toBe(5);
    expect(result.drivenBy).toBe('memory');
    expect(result.perResource.cpu).toBeCloseTo(2, 9);
    expect(result.perResource.memory).toBeCloseTo(5, 9);
  });

  it('keeps an exact multiple of the per-pod capacity at that many pods despite rounding error', () => {
    const result = recommendReplicas({
      minReplicas: 1,
      maxReplicas: 10,
      targetUtilisation: 0.7,
      demands: { cpu: { peakForecast: 0.7 * 0.3 * 3, requestPerPod: 0.3 } },
    });

    expect(result.replicas).toBe(3);
  });

  it('clamps to the bounds', () => {
    const low = recommendReplicas({
      ...bounds,
      targetUtilisation: 1,
      demands: { cpu: { peakForecast: 0.1, requestPerPod: 1 } },
    });
    const high = recommendReplicas({
      ...bounds,
      targetUtilisation: 1,
      demands: { cpu: { peakForecast: 50, requestPerPod: 1 } },
    });

    expect([low.replicas, high.replicas]).toEqual([2, 10]);
  });

  it('falls back to the minimum when no resource has a request', () => {
    const result = recommendReplicas({
      ...bounds,
      targetUtilisation: 0.7,
      demands: { cpu: { peakForecast: 3, requestPerPod: 0 } },
    });

    expect(result).toEqual({ replicas: 2, neededPods: 0, perResource: {} });
  });

  it('names the field and the value of a bad target utilisation', () => {
    expect(() => recommendReplicas({ ...bounds, targetUtilisation: 1.5, demands: {} })).toThrow(
      new CapacityError("'targetUtilisation' (1.5) must be in (0, 1]"),
    );
  });

  it('rejects a maximum below the minimum', () => {
    expect(() =>
      recommendReplicas({ minReplicas: 4, maxReplicas: 3, targetUtilisation: 0.5, demands: {} }),
    ).toThrow("'maxReplicas' (3) must be an integer of at least 'minReplicas' (4)");
  });
});

describe('stabilise', () => {
  const run = (needs: number[], start?: StabilisationState) => {
    let state = start;
    const out: number[] = [];
    for (const neededPods of needs) {
      const replicas = Math.min(10, Math.max(2, Math.ceil(neededPods)));
      const next = stabilise(state, { replicas, neededPods }, bounds, options);
      state = next.state;
      out.push(next.replicas);
    }
    return out;
  };

  it('adopts the first recommendation as it is', () => {
    expect(stabilise(undefined, { replicas: 4, neededPods: 3.5 }, bounds, options)).toEqual({
      replicas: 4,
      state: { replicas: 4, lowerStreak: [] },
      reason: 'initial',
    });
  });

  it('scales up at once', () => {
    expect(run([3.5, 6.2])).toEqual([4, 7]);
  });

  it('scales down only after three lower recommendations in a row, to the highest of them', () => {
    expect(run([6.5, 4.2, 3.1, 4.4, 2.5])).toEqual([7, 7, 7, 5, 5]);
  });

  it('starts counting again when a recommendation is not lower', () => {
    expect(run([6.5, 4.2, 3.1, 6.8, 4.1, 4.2])).toEqual([7, 7, 7, 7, 7, 7]);
  });

  it('ignores a need just under a pod boundary, inside the hysteresis band', () => {
    // 5.95 pods rounds to 6, yet with 10% margin needs 7: it never counts as lower than 7.
    expect(run([6.9, 5.95, 5.95, 5.95, 5.95])).toEqual([7, 7, 7, 7, 7]);
  });

  it('keeps the count through a forecast that oscillates around a pod boundary', () => {
    expect(run([8.5, 7.5, 8.5, 7.5, 8.5, 7.5])).toEqual([9, 9, 9, 9, 9, 9]);
  });

  it('rejects a scale-down delay that is not a positive integer', () => {
    expect(() =>
      stabilise(undefined, { replicas: 1, neededPods: 1 }, bounds, { scaleDownAfter: 0, hysteresis: 0 }),
    ).toThrow("'scaleDownAfter' (0) must be an integer of at least 1");
  });
});
