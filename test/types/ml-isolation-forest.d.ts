/** The part of `ml-isolation-forest` 0.1.0 (shipped without types) that the tests and benchmark use. */
declare module 'ml-isolation-forest' {
  export interface IsolationForestOptions {
    /** Trees in the forest. @default 100 */
    nEstimators?: number;
  }

  /**
   * Grows every tree on the whole training set with `Math.random`; scores are
   * 2^(-mean path length / c(training rows)), near 1 for anomalies.
   */
  export class IsolationForest {
    constructor(options?: IsolationForestOptions);
    readonly nEstimators: number;
    train(trainingSet: number[][]): void;
    predict(data: number[][]): number[];
  }
}
