import * as tf from '@tensorflow/tfjs';
import { createRandom } from '../random.js';

/** Options of {@link trainLstmForecaster}. */
export interface LstmForecasterOptions {
  /** Past points the forecaster sees to predict the next one. @default 24 */
  windowPoints?: number;
  /** LSTM units. Small on purpose: one metric needs little capacity and scoring runs per step. @default 16 */
  units?: number;
  /** Passes over the training windows. @default 10 */
  epochs?: number;
  /** @default 32 */
  batchSize?: number;
  /** Adam learning rate. @default 0.01 */
  learningRate?: number;
  /** Most recent windows kept for training, bounding the cost on long histories. @default 2000 */
  maxTrainWindows?: number;
  /** Seed of the initial weights and of the shuffling of windows. @default 1 */
  seed?: number;
  /**
   * Weight of each new absolute residual in the running residual scale (an exponentially weighted
   * mean). 0.01 tracks a change of noise level within about a hundred steps. @default 0.01
   */
  residualDecay?: number;
}

export type ResolvedLstmOptions = Required<LstmForecasterOptions>;

export interface LstmTrainingProgress {
  readonly epoch: number;
  readonly epochs: number;
  readonly loss: number;
}

/** A weight tensor as base64 of its little-endian Float32 data, with its shape. */
export interface SerializedTensor {
  readonly shape: number[];
  readonly float32Base64: string;
}

export interface SerializedLstmForecaster {
  readonly kind: 'lstm';
  readonly architecture: { readonly windowPoints: number; readonly units: number };
  readonly options: ResolvedLstmOptions;
  /** Values are normalised as (v - center) / scale before entering the network. */
  readonly center: number;
  readonly scale: number;
  /** Mean absolute one-step residual on the training data, in original units. */
  readonly residualScale: number;
  /** LSTM kernel [1, 4u], recurrent kernel [u, 4u], bias [4u], dense kernel [u, 1], dense bias [1]. */
  readonly weights: SerializedTensor[];
}

/**
 * The state of a training run between two epochs: network weights and the Adam optimiser's
 * moments. Training resumed from it continues exactly as the interrupted run would have.
 */
export interface LstmTrainingCheckpoint {
  readonly kind: 'lstm-checkpoint';
  readonly epoch: number;
  readonly weights: SerializedTensor[];
  /** Adam's iteration count and first and second moments, in the optimiser's own order. */
  readonly optimizer: (SerializedTensor & { readonly name: string })[];
}

export interface LstmTrainingControl {
  /** Continue a run from this checkpoint instead of from freshly initialised weights. */
  readonly resumeFrom?: LstmTrainingCheckpoint;
  /** Called with a checkpoint after every `checkpointEveryEpochs` epochs. */
  readonly onCheckpoint?: (checkpoint: LstmTrainingCheckpoint) => Promise<void>;
  /** @default 1 */
  readonly checkpointEveryEpochs?: number;
}

export const DEFAULT_LSTM_OPTIONS: ResolvedLstmOptions = {
  windowPoints: 24,
  units: 16,
  epochs: 10,
  batchSize: 32,
  learningRate: 0.01,
  maxTrainWindows: 2000,
  seed: 1,
  residualDecay: 0.01,
};

/**
 * A one-step-ahead LSTM forecaster whose residuals give an anomaly score. Training uses
 * TensorFlow.js on whichever backend is active; inference runs the same equations in plain
 * TypeScript from the trained weights, so a step costs microseconds, no tensors are allocated in
 * the scoring loop and scores do not depend on the backend that trained the model.
 */
export class LstmForecaster {
  private readonly hidden: Float64Array;
  private readonly cell: Float64Array;
  private readonly gates: Float64Array;

  private constructor(
    readonly options: ResolvedLstmOptions,
    readonly center: number,
    readonly scale: number,
    readonly residualScale: number,
    private readonly kernel: Float32Array,
    private readonly recurrent: Float32Array,
    private readonly bias: Float32Array,
    private readonly denseKernel: Float32Array,
    private readonly denseBias: number,
  ) {
    this.hidden = new Float64Array(options.units);
    this.cell = new Float64Array(options.units);
    this.gates = new Float64Array(4 * options.units);
  }

  static fromWeights(
    options: ResolvedLstmOptions,
    center: number,
    scale: number,
    residualScale: number,
    weights: readonly Float32Array[],
  ): LstmForecaster {
    const [kernel, recurrent, bias, denseKernel, denseBias] = weights;
    const u = options.units;
    if (
      kernel?.length !== 4 * u ||
      recurrent?.length !== 4 * u * u ||
      bias?.length !== 4 * u ||
      denseKernel?.length !== u ||
      denseBias?.length !== 1
    ) {
      throw new RangeError(`LSTM weights do not match an architecture of ${u} units on one input`);
    }
    return new LstmForecaster(
      options,
      center,
      scale,
      residualScale,
      kernel,
      recurrent,
      bias,
      denseKernel,
      denseBias[0]!,
    );
  }

  static fromJSON(serialized: SerializedLstmForecaster): LstmForecaster {
    if (serialized.kind !== 'lstm') {
      throw new TypeError(`expected a serialized 'lstm', got kind '${String(serialized.kind)}'`);
    }
    return LstmForecaster.fromWeights(
      serialized.options,
      serialized.center,
      serialized.scale,
      serialized.residualScale,
      serialized.weights.map((w) => decodeFloat32(w.float32Base64)),
    );
  }

  toJSON(): SerializedLstmForecaster {
    const u = this.options.units;
    const weights = [
      { shape: [1, 4 * u], data: this.kernel },
      { shape: [u, 4 * u], data: this.recurrent },
      { shape: [4 * u], data: this.bias },
      { shape: [u, 1], data: this.denseKernel },
      { shape: [1], data: Float32Array.of(this.denseBias) },
    ];
    return {
      kind: 'lstm',
      architecture: { windowPoints: this.options.windowPoints, units: u },
      options: this.options,
      center: this.center,
      scale: this.scale,
      residualScale: this.residualScale,
      weights: weights.map((w) => ({ shape: w.shape, float32Base64: encodeFloat32(w.data) })),
    };
  }

  /** Forecasts `values[end]` from the `windowPoints` values before it. */
  forecastAt(values: ArrayLike<number>, end: number): number {
    const w = this.options.windowPoints;
    if (end < w) throw new RangeError(`forecast at ${end} needs ${w} earlier points`);
    const u = this.options.units;
    const h = this.hidden;
    const c = this.cell;
    const z = this.gates;
    h.fill(0);
    c.fill(0);
    for (let t = end - w; t < end; t++) {
      const x = (values[t]! - this.center) / this.scale;
      for (let j = 0; j < 4 * u; j++) z[j] = this.bias[j]! + x * this.kernel[j]!;
      for (let k = 0; k < u; k++) {
        const hk = h[k]!;
        if (hk === 0) continue;
        const row = k * 4 * u;
        for (let j = 0; j < 4 * u; j++) z[j] = z[j]! + hk * this.recurrent[row + j]!;
      }
      // Keras gate order: input, forget, cell candidate, output.
      for (let k = 0; k < u; k++) {
        const i = sigmoid(z[k]!);
        const f = sigmoid(z[u + k]!);
        const g = Math.tanh(z[2 * u + k]!);
        const o = sigmoid(z[3 * u + k]!);
        c[k] = f * c[k]! + i * g;
        h[k] = o * Math.tanh(c[k]!);
      }
    }
    let y = this.denseBias;
    for (let k = 0; k < u; k++) y += h[k]! * this.denseKernel[k]!;
    return y * this.scale + this.center;
  }

  /** One-step forecasts for every index from `windowPoints` on; earlier entries are NaN. */
  forecastSeries(values: ArrayLike<number>): Float64Array {
    const out = new Float64Array(values.length).fill(Number.NaN);
    for (let i = this.options.windowPoints; i < values.length; i++) out[i] = this.forecastAt(values, i);
    return out;
  }

  /**
   * Raw anomaly scores: |residual| divided by the running mean absolute residual of the points
   * before it (seeded with the training residual scale), so each score uses only the past and a
   * noisier regime raises the bar rather than the score. The first `windowPoints` scores are 0.
   */
  scoreSeries(values: ArrayLike<number>): Float64Array {
    const scorer = this.createResidualScorer();
    const out = new Float64Array(values.length);
    for (let i = this.options.windowPoints; i < values.length; i++) {
      out[i] = scorer.score(values[i]!, this.forecastAt(values, i));
    }
    return out;
  }

  createResidualScorer(): ResidualScorer {
    return new ResidualScorer(this.residualScale, this.options.residualDecay, this.scale);
  }
}

/** Scales residuals by a running mean absolute residual that is updated after each score. */
export class ResidualScorer {
  constructor(
    private scale: number,
    private readonly decay: number,
    private readonly floor: number,
  ) {}

  score(actual: number, forecast: number): number {
    const residual = Math.abs(actual - forecast);
    // The floor keeps a perfectly predicted stretch from turning rounding noise into alarms.
    const score = residual / Math.max(this.scale, 1e-3 * this.floor, 1e-12);
    // Large residuals are clipped in the update so one outlier does not blind the next hundred steps.
    const clipped = Math.min(residual, 5 * Math.max(this.scale, 1e-12));
    this.scale += this.decay * (clipped - this.scale);
    return score;
  }
}

/**
 * Trains the forecaster on `values` (at least `windowPoints + 8` points), yielding to the event
 * loop between epochs so an activity can heartbeat. Same computation as
 * {@link trainLstmForecasterSync}.
 */
export async function trainLstmForecaster(
  values: ArrayLike<number>,
  options: LstmForecasterOptions = {},
  onProgress?: (progress: LstmTrainingProgress) => void,
  control: LstmTrainingControl = {},
): Promise<LstmForecaster> {
  const session = new LstmTrainingSession(values, options);
  const every = control.checkpointEveryEpochs ?? 1;
  try {
    if (control.resumeFrom) await session.restore(control.resumeFrom);
    while (!session.done) {
      // Evaluated apart from the optional call, which would otherwise skip it when no callback is given.
      const progress = session.runEpoch();
      onProgress?.(progress);
      if (control.onCheckpoint && progress.epoch % every === 0 && !session.done) {
        await control.onCheckpoint(await session.checkpoint());
      }
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return session.result();
  } finally {
    session.dispose();
  }
}

/**
 * Trains synchronously, for callers that cannot await, such as a streaming detector that
 * retrains inside its step. Values are normalised by their median and interquartile range so a
 * level shift in the history does not squash them.
 */
export function trainLstmForecasterSync(
  values: ArrayLike<number>,
  options: LstmForecasterOptions = {},
  onProgress?: (progress: LstmTrainingProgress) => void,
): LstmForecaster {
  const session = new LstmTrainingSession(values, options);
  try {
    while (!session.done) {
      const progress = session.runEpoch();
      onProgress?.(progress);
    }
    return session.result();
  } finally {
    session.dispose();
  }
}

/**
 * Mini-batch Adam on the mean squared one-step error, written with `optimizer.minimize` rather
 * than `model.fit` because that call is synchronous, which lets one loop serve both entry points.
 */
class LstmTrainingSession {
  readonly options: ResolvedLstmOptions;
  private readonly center: number;
  private readonly scale: number;
  private readonly first: number;
  private readonly count: number;
  private readonly model: tf.Sequential;
  private readonly optimizer: tf.Optimizer;
  private readonly x: tf.Tensor3D;
  private readonly y: tf.Tensor2D;
  private epoch = 0;

  constructor(
    private readonly values: ArrayLike<number>,
    options: LstmForecasterOptions,
  ) {
    const o: ResolvedLstmOptions = { ...DEFAULT_LSTM_OPTIONS, ...options };
    this.options = o;
    const w = o.windowPoints;
    if (values.length < w + 8) {
      throw new RangeError(
        `LSTM training needs at least ${w + 8} points ('windowPoints' + 8), got ${values.length}`,
      );
    }
    const { center, scale } = robustLocationScale(values);
    this.center = center;
    this.scale = scale;

    this.first = Math.max(w, values.length - o.maxTrainWindows);
    this.count = values.length - this.first;
    // One seeded shuffle of the windows; tf's own shuffling is not seedable.
    const order = Uint32Array.from({ length: this.count }, (_, i) => this.first + i);
    const random = createRandom(o.seed);
    for (let i = this.count - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      const tmp = order[i]!;
      order[i] = order[j]!;
      order[j] = tmp;
    }
    const xs = new Float32Array(this.count * w);
    const ys = new Float32Array(this.count);
    for (let n = 0; n < this.count; n++) {
      const end = order[n]!;
      for (let t = 0; t < w; t++) xs[n * w + t] = (values[end - w + t]! - center) / scale;
      ys[n] = (values[end]! - center) / scale;
    }
    this.x = tf.tensor3d(xs, [this.count, w, 1]);
    this.y = tf.tensor2d(ys, [this.count, 1]);
    this.model = buildNetwork(o);
    this.optimizer = tf.train.adam(o.learningRate);
  }

  get done(): boolean {
    return this.epoch >= this.options.epochs;
  }

  runEpoch(): LstmTrainingProgress {
    const variables = this.model.trainableWeights.map((w) => w.read() as tf.Variable);
    const batch = this.options.batchSize;
    let lossSum = 0;
    for (let start = 0; start < this.count; start += batch) {
      const size = Math.min(batch, this.count - start);
      // minimize runs the closure under the engine's gradient tape, which disposes its intermediates.
      const loss = this.optimizer.minimize(
        () => {
          const xb = this.x.slice([start, 0, 0], [size, -1, -1]);
          const yb = this.y.slice([start, 0], [size, -1]);
          return tf.losses.meanSquaredError(yb, this.model.apply(xb) as tf.Tensor) as tf.Scalar;
        },
        true,
        variables,
      );
      lossSum += (loss?.dataSync()[0] ?? 0) * size;
      loss?.dispose();
    }
    this.epoch++;
    return { epoch: this.epoch, epochs: this.options.epochs, loss: lossSum / this.count };
  }

  async checkpoint(): Promise<LstmTrainingCheckpoint> {
    const optimizer = await this.optimizer.getWeights();
    return {
      kind: 'lstm-checkpoint',
      epoch: this.epoch,
      weights: this.model.getWeights().map((t) => serializeTensor(t)),
      optimizer: optimizer.map(({ name, tensor }) => ({ name, ...serializeTensor(tensor) })),
    };
  }

  async restore(checkpoint: LstmTrainingCheckpoint): Promise<void> {
    const expected = this.model.getWeights().map((t) => t.shape.join('x'));
    const found = checkpoint.weights.map((w) => w.shape.join('x'));
    if (expected.join(',') !== found.join(',') || checkpoint.epoch > this.options.epochs) {
      throw new RangeError(
        `LSTM checkpoint (epoch ${checkpoint.epoch}, weights ${found.join(',')}) does not fit this run (${this.options.epochs} epochs, weights ${expected.join(',')})`,
      );
    }
    const weights = checkpoint.weights.map((w) => tf.tensor(decodeFloat32(w.float32Base64), w.shape));
    this.model.setWeights(weights);
    for (const t of weights) t.dispose();
    await this.optimizer.setWeights(
      checkpoint.optimizer.map((w) => ({
        name: w.name,
        tensor: tf.tensor(decodeFloat32(w.float32Base64), w.shape),
      })),
    );
    this.epoch = checkpoint.epoch;
  }

  result(): LstmForecaster {
    const weights = this.model.getWeights().map((t) => Float32Array.from(t.dataSync()));
    const draft = LstmForecaster.fromWeights(this.options, this.center, this.scale, 1, weights);
    let residualTotal = 0;
    for (let end = this.first; end < this.values.length; end++) {
      residualTotal += Math.abs(this.values[end]! - draft.forecastAt(this.values, end));
    }
    return LstmForecaster.fromWeights(
      this.options,
      this.center,
      this.scale,
      residualTotal / this.count,
      weights,
    );
  }

  dispose(): void {
    this.x.dispose();
    this.y.dispose();
    this.optimizer.dispose();
    this.model.dispose();
  }
}

function buildNetwork(o: ResolvedLstmOptions): tf.Sequential {
  const model = tf.sequential();
  model.add(
    tf.layers.lstm({
      units: o.units,
      inputShape: [o.windowPoints, 1],
      activation: 'tanh',
      recurrentActivation: 'sigmoid',
      kernelInitializer: tf.initializers.glorotUniform({ seed: o.seed }),
      recurrentInitializer: tf.initializers.orthogonal({ seed: o.seed + 1 }),
    }),
  );
  model.add(
    tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: o.seed + 2 }) }),
  );
  return model;
}

/**
 * The TensorFlow.js network of a trained forecaster, for batched inference on an accelerated
 * backend. Its outputs are normalised values: multiply by `scale` and add `center`. The caller
 * disposes it.
 */
export function toTfModel(forecaster: LstmForecaster): tf.Sequential {
  const serialized = forecaster.toJSON();
  const model = buildNetwork(forecaster.options);
  const tensors = serialized.weights.map((w) => tf.tensor(decodeFloat32(w.float32Base64), w.shape));
  model.setWeights(tensors);
  for (const t of tensors) t.dispose();
  return model;
}

/** Median and interquartile range / 1.349 (the standard deviation of a normal sample), never 0. */
export function robustLocationScale(values: ArrayLike<number>): { center: number; scale: number } {
  const sorted = Float64Array.from(values).sort();
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * (sorted.length - 1)))]!;
  const center = q(0.5);
  let scale = (q(0.75) - q(0.25)) / 1.349;
  if (!(scale > 0)) {
    let sum = 0;
    let sumSq = 0;
    for (const v of sorted) {
      sum += v;
      sumSq += v * v;
    }
    const mean = sum / sorted.length;
    scale = Math.sqrt(Math.max(0, sumSq / sorted.length - mean * mean));
  }
  if (!(scale > 0)) scale = Math.max(Math.abs(center), 1);
  return { center, scale };
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

function serializeTensor(tensor: tf.Tensor): SerializedTensor {
  return { shape: [...tensor.shape], float32Base64: encodeFloat32(Float32Array.from(tensor.dataSync())) };
}

function encodeFloat32(data: Float32Array): string {
  const bytes = new Uint8Array(data.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i]!, true);
  return Buffer.from(bytes).toString('base64');
}

function decodeFloat32(base64: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}
