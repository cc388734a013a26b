import { describe, expect, it } from 'vitest';
import { ForecastSpecError, parseForecastSpec } from '../../ml/forecast-spec.js';

describe('parseForecastSpec', () => {
  it('fills every default of a minimal spec', () => {
    const spec = parseForecastSpec({ name: 'shop', workloads: [{ namespace: 'shop', name: 'frontend' }] });

    expect(spec).toEqual({
      name: 'shop',
      source: { kind: 'simulated', seed: 1, stepSeconds: 300, lookbackHours: 336 },
      workloads: [
        {
          namespace: 'shop',
          name: 'frontend',
          kind: 'Deployment',
          minReplicas: 1,
          maxReplicas: 10,
          targetUtilisation: 0.7,
          patchHpa: false,
        },
      ],
      intervalMinutes: 5,
      horizonMinutes: 30,
      model: 'auto',
      upperQuantile: 0.9,
      planOn: 'upper',
      stabilisation: { scaleDownAfter: 3, hysteresis: 0.1 },
      apply: false,
      roundsPerRun: 144,
    });
  });

  it('checks the source against the branch its kind names', () => {
    expect(() =>
      parseForecastSpec({ name: 'a', source: { kind: 'csv' }, workloads: [{ namespace: 'a', name: 'b' }] }),
    ).toThrow("'/source/cpuPath' is required");
    expect(() =>
      parseForecastSpec({ name: 'a', source: { kind: 'kafka' }, workloads: [{ namespace: 'a', name: 'b' }] }),
    ).toThrow(`'/source/kind' must be one of simulated, prometheus, csv (got "kafka")`);
  });

  it('refuses bounds that cross and workloads named twice, naming each', () => {
    const bad = {
      name: 'a',
      workloads: [
        { namespace: 'a', name: 'b', minReplicas: 5, maxReplicas: 2 },
        { namespace: 'a', name: 'b' },
      ],
    };

    expect(() => parseForecastSpec(bad)).toThrow(
      new ForecastSpecError(
        "forecast spec is invalid: '/workloads/0/minReplicas' (5) must not exceed 'maxReplicas' (2); '/workloads/1' repeats the workload a/b",
      ),
    );
  });

  it('refuses a spec that is not an object', () => {
    expect(() => parseForecastSpec('shop')).toThrow('forecast spec must be a JSON object, got "shop"');
  });
});
