import { describe, expect, it } from 'vitest';
import { createSourceReaders } from '../../activities/sources.js';
import { parseDetectorSpec } from '../../ml/spec.js';
import { simulateSource } from '../../sim/source.js';

const readers = createSourceReaders({ simulate: simulateSource });

function simulated(extra: Record<string, unknown>) {
  return parseDetectorSpec({
    name: 'sim',
    source: { kind: 'simulated', days: 1, stepSeconds: 300, seed: 4, ...extra },
  }).source;
}

describe('reading a simulated source', () => {
  it('ends the history at the given clock when no end time is pinned', async () => {
    const endMs = Date.parse('2026-12-04T10:00:00Z');

    const { series } = await readers.read(simulated({}), endMs);

    expect(series.timestampsMs.at(-1)).toBeLessThanOrEqual(endMs);
    expect(endMs - series.timestampsMs.at(-1)!).toBeLessThan(300_000);
  });

  it('generates the same points whenever it runs once the end time is pinned', async () => {
    const source = simulated({ endTime: '2026-12-03T00:17:00Z' });

    const morning = await readers.read(source, Date.parse('2026-12-04T08:00:00Z'));
    const evening = await readers.read(source, Date.parse('2026-12-04T19:30:00Z'));

    expect(morning.series.timestampsMs.at(-1)).toBeLessThanOrEqual(Date.parse('2026-12-03T00:17:00Z'));
    expect(Array.from(evening.series.values)).toEqual(Array.from(morning.series.values));
    expect(Array.from(evening.series.timestampsMs)).toEqual(Array.from(morning.series.timestampsMs));
  });

  it('refuses an end time that matches the pattern but is no date, naming it', async () => {
    const source = simulated({ endTime: '2026-13-45T00:00:00Z' });

    await expect(readers.read(source, Date.now())).rejects.toMatchObject({
      message: "'source.endTime' (2026-13-45T00:00:00Z) is not a valid UTC time",
      nonRetryable: true,
    });
  });
});

describe('reading a Prometheus source', () => {
  const minute = Date.parse('2026-12-04T10:00:00Z');
  // One point every 10 s, with a 2-minute outage after the first minute.
  const timestampsMs = [
    ...Array.from({ length: 6 }, (_, i) => minute + i * 10_000),
    ...Array.from({ length: 12 }, (_, i) => minute + 180_000 + i * 10_000),
  ];
  const prometheus = () => ({
    queryRange: async () => [
      {
        name: 'cpu',
        labels: {},
        timestampsMs: Float64Array.from(timestampsMs),
        values: Float64Array.from(timestampsMs, () => 1),
      },
    ],
    query: async () => [],
    health: async () => ({ ready: true }),
  });
  const readers = createSourceReaders({ prometheus: prometheus as never });
  const source = (extra: Record<string, unknown>) =>
    parseDetectorSpec({
      name: 'prom',
      source: { kind: 'prometheus', url: 'http://prom:9090', stepSeconds: 10, ...extra },
    }).source;

  it("leaves out the points of the query's rate window after a gap", async () => {
    const { series } = await readers.read(
      source({ query: 'sum(rate(cpu_seconds_total[1m]))' }),
      minute + 300_000,
    );

    expect(series.values.length).toBe(timestampsMs.length - 6);
    expect(series.timestampsMs[6]).toBe(minute + 240_000);
  });

  it('keeps every point when the query has no range or settling is turned off', async () => {
    const gauge = await readers.read(source({ query: 'sum(memory_bytes)' }), minute + 300_000);
    const off = await readers.read(
      source({ query: 'sum(rate(cpu_seconds_total[1m]))', gapSettleSeconds: 0 }),
      minute + 300_000,
    );

    expect(gauge.series.values.length).toBe(timestampsMs.length);
    expect(off.series.values.length).toBe(timestampsMs.length);
  });
});
