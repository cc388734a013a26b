/**
 * In-place iterative radix-2 Cooley-Tukey FFT. `re` and `im` hold the signal on entry and its
 * discrete Fourier transform on exit; their length must be a power of two.
 */
export function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  if (im.length !== n) throw new RangeError(`'im' length (${im.length}) must equal 're' length (${n})`);
  if (!isPowerOfTwo(n)) throw new RangeError(`FFT length (${n}) must be a power of two`);

  // Bit-reversal permutation, so the butterflies below can run in place.
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      const tr = re[i]!;
      re[i] = re[j]!;
      re[j] = tr;
      const ti = im[i]!;
      im[i] = im[j]!;
      im[j] = ti;
    }
  }

  for (let size = 2; size <= n; size <<= 1) {
    const half = size >> 1;
    const angle = (-2 * Math.PI) / size;
    const wRe = Math.cos(angle);
    const wIm = Math.sin(angle);
    for (let start = 0; start < n; start += size) {
      let cRe = 1;
      let cIm = 0;
      for (let k = 0; k < half; k++) {
        const a = start + k;
        const b = a + half;
        const xRe = re[b]! * cRe - im[b]! * cIm;
        const xIm = re[b]! * cIm + im[b]! * cRe;
        re[b] = re[a]! - xRe;
        im[b] = im[a]! - xIm;
        re[a] = re[a]! + xRe;
        im[a] = im[a]! + xIm;
        const nextRe = cRe * wRe - cIm * wIm;
        cIm = cRe * wIm + cIm * wRe;
        cRe = nextRe;
      }
    }
  }
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;
}

/**
 * One-sided power spectrum |X_k|² / n for k = 0..n/2 of a window whose mean is removed first, so
 * bin 0 carries no level and the spectrum describes only the window's variation.
 */
export function powerSpectrum(window: ArrayLike<number>): Float64Array {
  const n = window.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += window[i]!;
  mean /= n;
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let i = 0; i < n; i++) re[i] = window[i]! - mean;
  fft(re, im);
  const power = new Float64Array(n / 2 + 1);
  for (let k = 0; k <= n / 2; k++) power[k] = (re[k]! * re[k]! + im[k]! * im[k]!) / n;
  return power;
}

export interface SpectralSummary {
  /** Period, in points, of the strongest non-constant frequency; 0 when the window is flat. */
  readonly dominantPeriodPoints: number;
  /** Share of the variation carried by the strongest frequency, in [0, 1]: near 1 is a clean cycle. */
  readonly dominantPowerRatio: number;
  /** Total power of the variation, log1p-compressed: equals log1p(variance · n / 2) for a pure tone. */
  readonly logSpectralEnergy: number;
  /** Share of the power above a quarter of the Nyquist frequency: high when the window is noisy or spiky. */
  readonly highFrequencyRatio: number;
}

export function summariseSpectrum(window: ArrayLike<number>): SpectralSummary {
  const n = window.length;
  const power = powerSpectrum(window);
  let total = 0;
  let high = 0;
  let best = 0;
  let bestK = 0;
  const highFrom = Math.ceil(n / 8);
  for (let k = 1; k < power.length; k++) {
    const p = power[k]!;
    total += p;
    if (k >= highFrom) high += p;
    if (p > best) {
      best = p;
      bestK = k;
    }
  }
  if (total <= 1e-12) {
    return { dominantPeriodPoints: 0, dominantPowerRatio: 0, logSpectralEnergy: 0, highFrequencyRatio: 0 };
  }
  return {
    dominantPeriodPoints: n / bestK,
    dominantPowerRatio: best / total,
    logSpectralEnergy: Math.log1p(total),
    highFrequencyRatio: high / total,
  };
}
