import { describe, expect, it } from 'vitest';
import { fft, powerSpectrum, summariseSpectrum } from '../../ml/fft.js';
import { createRandom, normal } from '../../ml/random.js';

function naiveDft(signal: Float64Array): { re: Float64Array; im: Float64Array } {
  const n = signal.length;
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    for (let t = 0; t < n; t++) {
      re[k] = re[k]! + signal[t]! * Math.cos((-2 * Math.PI * k * t) / n);
      im[k] = im[k]! + signal[t]! * Math.sin((-2 * Math.PI * k * t) / n);
    }
  }
  return { re, im };
}

describe('fft', () => {
  it('matches the naive discrete Fourier transform on seeded noise', () => {
    const random = createRandom(3);
    const signal = Float64Array.from({ length: 64 }, () => normal(random));
    const re = signal.slice();
    const im = new Float64Array(64);
    fft(re, im);
    const expected = naiveDft(signal);
    for (let k = 0; k < 64; k++) {
      expect(re[k]).toBeCloseTo(expected.re[k]!, 9);
      expect(im[k]).toBeCloseTo(expected.im[k]!, 9);
    }
  });

  it('rejects a length that is not a power of two', () => {
    expect(() => fft(new Float64Array(12), new Float64Array(12))).toThrow(/power of two/);
  });

  it('puts all the power of a pure tone in its frequency bin', () => {
    const tone = Float64Array.from({ length: 128 }, (_, t) => 5 + Math.sin((2 * Math.PI * 8 * t) / 128));
    const power = powerSpectrum(tone);
    expect(power[8]).toBeCloseTo(32, 9);
    expect(power[0]).toBeCloseTo(0, 9);
    expect(power[7]).toBeCloseTo(0, 9);
  });

  it('finds the dominant period of a noisy cycle', () => {
    const random = createRandom(11);
    const window = Float64Array.from(
      { length: 256 },
      (_, t) => Math.sin((2 * Math.PI * t) / 32) + 0.2 * normal(random),
    );
    const summary = summariseSpectrum(window);
    expect(summary.dominantPeriodPoints).toBeCloseTo(32, 6);
    expect(summary.dominantPowerRatio).toBeGreaterThan(0.5);
    expect(summary.highFrequencyRatio).toBeLessThan(0.3);
  });

  it('reports a flat window as having no period and no energy', () => {
    const summary = summariseSpectrum(new Float64Array(32).fill(7));
    expect(summary).toEqual({
      dominantPeriodPoints: 0,
      dominantPowerRatio: 0,
      logSpectralEnergy: 0,
      highFrequencyRatio: 0,
    });
  });
});
