import { createEnsembleStreamingDetector } from '../ml/nab-detector.js';
import type { StreamingDetectorFactory } from '../ml/streaming.js';
import { initTfBackend } from '../ml/tf-backend.js';
import { windowedGaussianFactory } from './windowed-gaussian.js';

/**
 * Detectors the NAB runner can run, by the name given to `--detector`. Each file gets a fresh
 * detector from its factory, so no state leaks between files.
 */
export const DETECTORS: Readonly<Record<string, StreamingDetectorFactory>> = {
  /** NAB's published baseline; landing near its published score checks the whole chain. */
  windowedGaussian: windowedGaussianFactory,
  /** Scores every row 0: the floor every detector must beat. */
  null: () => ({ step: () => 0 }),
  /** The production ensemble (Isolation Forest, LSTM, Prophet), retraining on the past as it streams. */
  ensemble: createEnsembleStreamingDetector(),
};

// The ensemble's LSTM trains on the fastest TensorFlow.js backend available in each worker.
await initTfBackend();

export function detectorFactory(name: string): StreamingDetectorFactory {
  const factory = DETECTORS[name];
  if (!factory) {
    throw new Error(`detector '${name}' is not registered; known: ${Object.keys(DETECTORS).join(', ')}`);
  }
  return factory;
}
