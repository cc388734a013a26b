import { describe, expect, it } from 'vitest';
import { parseDetectorSpec, SpecError } from '../../ml/spec.js';

const CSV_SOURCE = { kind: 'csv', path: 'data/nyc_taxi.csv' };

function specError(input: unknown): string {
  try {
    parseDetectorSpec(input);
  } catch (err) {
    expect(err).toBeInstanceOf(SpecError);
    return (err as SpecError).message;
  }
  throw new Error('the spec was accepted');
}

describe('parseDetectorSpec', () => {
  it('fills every default around a name and a source', () => {
    const spec = parseDetectorSpec({ name: 'taxi', source: CSV_SOURCE });

    expect(spec).toMatchObject({
      name: 'taxi',
      source: CSV_SOURCE,
      features: { windowsPoints: [12, 60], diffLags: [1] },
      model: { trees: 100, sampleSize: 256, seed: 1 },
      split: { validationFraction: 0.2, testFraction: 0.2 },
      targetAnomalyRate: 0.002,
      promotion: { minImprovement: 0 },
    });
  });

  it('fills the defaults of a simulated source', () => {
    expect(parseDetectorSpec({ name: 'sim', source: { kind: 'simulated' } }).source).toEqual({
      kind: 'simulated',
      workload: 'shop/frontend',
      metric: 'cpu_usage_cores',
      days: 14,
      stepSeconds: 60,
      seed: 1,
    });
  });

  it('takes a fixed end for simulated history only in UTC ISO 8601, quoting a bad one', () => {
    const source = { kind: 'simulated', endTime: '2026-12-03T00:17:00Z' };

    expect(parseDetectorSpec({ name: 'sim', source }).source).toMatchObject(source);
    expect(specError({ name: 'sim', source: { kind: 'simulated', endTime: '3 Dec 2026' } })).toContain(
      `'/source/endTime' must match pattern`,
    );
    expect(specError({ name: 'sim', source: { kind: 'simulated', endTime: '3 Dec 2026' } })).toContain(
      '(got "3 Dec 2026")',
    );
  });

  it('fills the defaults of a Prometheus source', () => {
    const source = { kind: 'prometheus', query: 'sum(rate(http_requests_total[5m]))' };

    expect(parseDetectorSpec({ name: 'prom', source }).source).toEqual({
      ...source,
      lookbackHours: 168,
      stepSeconds: 60,
    });
  });

  it('keeps given values over defaults and leaves the input untouched', () => {
    const input = { name: 'taxi', source: CSV_SOURCE, model: { trees: 50 } };
    const before = structuredClone(input);

    const spec = parseDetectorSpec(input);

    expect(spec.model).toEqual({ trees: 50, sampleSize: 256, seed: 1 });
    expect(input).toEqual(before);
  });

  it.each([
    ['a number', 3, 'got 3'],
    ['an array', [1], 'got [1]'],
    ['null', null, 'got null'],
  ])('rejects %s as a spec, quoting it', (_what, input, quoted) => {
    expect(specError(input)).toBe(`detector spec must be a JSON object, ${quoted}`);
  });

  it('names the path and value of a field that breaks its bounds', () => {
    expect(specError({ name: 'taxi', source: CSV_SOURCE, model: { trees: 0 } })).toBe(
      "detector spec is invalid: '/model/trees' must be >= 1 (got 0)",
    );
  });

  it('names the path and value of a name that breaks the pattern', () => {
    expect(specError({ name: 'Taxi_Rides', source: CSV_SOURCE })).toContain(
      `'/name' must match pattern "^[a-z0-9][a-z0-9-]{0,62}$" (got "Taxi_Rides")`,
    );
  });

  it('names each bad array entry by its index', () => {
    const message = specError({ name: 'taxi', source: CSV_SOURCE, features: { windowsPoints: [1, 'x'] } });

    expect(message).toBe(
      `detector spec is invalid: '/features/windowsPoints/0' must be >= 2 (got 1); '/features/windowsPoints/1' must be integer (got "x")`,
    );
  });

  it('names a missing field by its full path', () => {
    expect(specError({ name: 'taxi', source: { kind: 'csv' } })).toBe(
      "detector spec is invalid: '/source/path' is required",
    );
    expect(specError({ name: 'taxi' })).toBe("detector spec is invalid: '/source' is required");
  });

  it('rejects an unknown field at the top and inside a source, naming it and its value', () => {
    expect(specError({ name: 'taxi', source: CSV_SOURCE, targetAnomalyRat: 0.01 })).toBe(
      "detector spec is invalid: '/targetAnomalyRat' is not a known field (got 0.01)",
    );
    expect(specError({ name: 'taxi', source: { ...CSV_SOURCE, step: 60 } })).toBe(
      "detector spec is invalid: '/source/step' is not a known field (got 60)",
    );
  });

  it('lists the allowed values when a choice is not one of them', () => {
    expect(specError({ name: 'sim', source: { kind: 'simulated', metric: 'disk' } })).toBe(
      `detector spec is invalid: '/source/metric' must be one of "cpu_usage_cores", "memory_working_set_bytes", ` +
        `"http_request_rate", "http_latency_p99_seconds", "http_error_ratio", "cpu_throttled_ratio" (got "disk")`,
    );
  });

  it('rejects an unknown source kind, listing the known ones', () => {
    expect(specError({ name: 'taxi', source: { kind: 'kafka', topic: 'metrics' } })).toBe(
      'detector spec is invalid: \'/source/kind\' must be one of csv, simulated, prometheus (got "kafka")',
    );
  });

  it('rejects a source that is not an object, quoting it', () => {
    expect(specError({ name: 'taxi', source: 'data.csv' })).toBe(
      `detector spec is invalid: '/source' must be an object with a 'kind' (got "data.csv")`,
    );
  });

  it('reports several problems in one message', () => {
    const message = specError({ name: '-bad', source: { kind: 'csv' }, targetAnomalyRate: 0.7 });

    expect(message).toContain("'/name' must match pattern");
    expect(message).toContain("'/targetAnomalyRate' must be < 0.5 (got 0.7)");
    expect(message).toContain("'/source/path' is required");
  });

  it('rejects splits that leave less than a fifth for training, naming both fractions', () => {
    const split = { validationFraction: 0.45, testFraction: 0.4 };

    expect(specError({ name: 'taxi', source: CSV_SOURCE, split })).toBe(
      "detector spec: 'split.validationFraction' (0.45) + 'split.testFraction' (0.4) must leave at least 20% for training",
    );
  });

  it('takes a forecast drift span on the Prophet member only, naming the member that has one', () => {
    const spec = parseDetectorSpec({
      name: 'taxi',
      source: CSV_SOURCE,
      models: [{ kind: 'prophet', driftPoints: 0 }, { kind: 'lstm' }],
    });
    expect(spec.models[0]).toMatchObject({ kind: 'prophet', driftPoints: 0 });

    expect(
      specError({
        name: 'taxi',
        source: CSV_SOURCE,
        models: [{ kind: 'prophet' }, { kind: 'lstm', driftPoints: 24 }],
      }),
    ).toBe("detector spec: 'models/1/driftPoints' (24) applies to kind 'prophet' only, not 'lstm'");
  });
});
