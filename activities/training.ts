import { Context, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import {
  concatTail,
  type DetectorModel,
  loadDetectorModel,
  trainDetectorModel,
} from '../ml/detector-model.js';
import { eventMetrics, injectAnomalies, windowsToEvents } from '../ml/evaluation/events.js';
import { type Series, sliceSeries } from '../ml/series.js';
import { type DetectorSpec, parseDetectorSpec, SpecError } from '../ml/spec.js';
import type { ArtifactStore } from '../registry/artifact-store.js';
import { ModelNotFoundError, type ModelRegistry, type ModelVersionMeta } from '../registry/model-registry.js';
import { badInput, type SourceReaders } from './sources.js';

export interface TrainingActivityDeps {
  readonly store: ArtifactStore;
  readonly registry: ModelRegistry;
  readonly sources: SourceReaders;
  /** Recorded with every version, e.g. `0.1.0+3f2a9c1`. */
  readonly codeVersion: string;
}

export interface CollectSeriesInput {
  readonly spec: DetectorSpec;
  /** End of the collection window, from the workflow's clock so a replay asks for the same data. */
  readonly endMs: number;
}

export interface DataRange {
  readonly startMs: number;
  readonly endMs: number;
  readonly points: number;
}

export interface CollectSeriesResult {
  readonly datasetId: string;
  readonly range: DataRange;
  /** Stored labelled windows, when the source has them; used for reporting, never for training. */
  readonly labelsId?: string;
}

export interface SplitDatasetInput {
  readonly datasetId: string;
  readonly validationFraction: number;
  readonly testFraction: number;
}

export interface SplitDatasetResult {
  readonly trainId: string;
  readonly validationId: string;
  readonly testId: string;
  readonly trainRange: DataRange;
  readonly testRange: DataRange;
}

export interface TrainModelInput {
  readonly spec: DetectorSpec;
  readonly trainId: string;
  readonly validationId: string;
}

export interface TrainModelResult {
  readonly modelId: string;
  readonly durationMs: number;
}

/** A model to evaluate: a freshly trained artifact or a registered version. */
export type ModelRef =
  | { readonly artifactId: string }
  | { readonly detector: string; readonly version: number };

export interface EvaluateModelInput {
  readonly model: ModelRef;
  /** The points before the test split, so rolling features start warm. */
  readonly contextId: string;
  readonly testId: string;
  readonly labelsId?: string;
  /** Seed of the planted anomalies: the same for champion and challenger. */
  readonly seed: number;
}

export type EvaluationMetrics = Record<string, number>;

export interface RegisterModelInput {
  readonly spec: DetectorSpec;
  readonly modelId: string;
  readonly metrics: EvaluationMetrics;
  readonly range: DataRange;
  readonly parentVersion?: number;
  readonly runKey: string;
}

export interface RegisteredVersion {
  readonly detector: string;
  readonly version: number;
  readonly checksum: string;
}

export interface SetChampionInput {
  readonly detector: string;
  readonly version: number;
  readonly reason: string;
  readonly metrics: EvaluationMetrics;
}

export interface RecordDecisionInput extends SetChampionInput {
  readonly action: 'reject' | 'keep';
  readonly championVersion?: number;
}

export function createTrainingActivities(deps: TrainingActivityDeps) {
  const { store, registry, sources } = deps;

  const loadModel = async (ref: ModelRef): Promise<DetectorModel> => {
    if ('artifactId' in ref) return store.getJson<DetectorModel>(ref.artifactId);
    try {
      return (await registry.getVersion<DetectorModel>(ref.detector, ref.version)).model;
    } catch (err) {
      if (err instanceof ModelNotFoundError) throw badInput(err.message, err);
      throw err;
    }
  };

  return {
    /** Validates a spec and fills its defaults; a bad spec fails at once with every problem listed. */
    async validateSpec(input: unknown): Promise<DetectorSpec> {
      try {
        return parseDetectorSpec(input);
      } catch (err) {
        if (err instanceof SpecError) throw badInput(err.message, err);
        throw err;
      }
    },

    async collectSeries({ spec, endMs }: CollectSeriesInput): Promise<CollectSeriesResult> {
      const { series, windowsMs } = await sources.read(spec.source, endMs);
      if (series.values.length < 100) {
        throw badInput(
          `source of detector '${spec.name}' returned ${series.values.length} points; training needs at least 100`,
        );
      }
      const datasetId = await store.putSeries(series, { detector: spec.name, source: spec.source });
      const labelsId = windowsMs ? await store.putJson('labels', windowsMs) : undefined;
      log.info('collected series', {
        detector: spec.name,
        points: series.values.length,
        labelled: Boolean(labelsId),
      });
      return { datasetId, range: rangeOf(series), ...(labelsId ? { labelsId } : {}) };
    },

    async splitDataset({
      datasetId,
      validationFraction,
      testFraction,
    }: SplitDatasetInput): Promise<SplitDatasetResult> {
      const series = await store.getSeries(datasetId);
      const n = series.values.length;
      const testStart = Math.floor(n * (1 - testFraction));
      const validationStart = Math.floor(n * (1 - testFraction - validationFraction));
      const train = sliceSeries(series, 0, validationStart);
      const validation = sliceSeries(series, validationStart, testStart);
      const test = sliceSeries(series, testStart);
      const [trainId, validationId, testId] = await Promise.all([
        store.putSeries(train),
        store.putSeries(validation),
        store.putSeries(test),
      ]);
      return { trainId, validationId, testId, trainRange: rangeOf(train), testRange: rangeOf(test) };
    },

    async trainModel({ spec, trainId, validationId }: TrainModelInput): Promise<TrainModelResult> {
      const started = performance.now();
      const [train, validation] = await Promise.all([
        store.getSeries(trainId),
        store.getSeries(validationId),
      ]);
      Context.current().heartbeat({ stage: 'fitting', rows: train.values.length });
      let model: DetectorModel;
      try {
        model = trainDetectorModel(train, validation, {
          features: spec.features,
          forest: spec.model,
          targetAnomalyRate: spec.targetAnomalyRate,
        });
      } catch (err) {
        if (err instanceof RangeError) throw badInput(err.message, err);
        throw err;
      }
      const modelId = await store.putJson('model', model);
      const durationMs = Math.round(performance.now() - started);
      log.info('trained model', { detector: spec.name, rows: train.values.length, durationMs });
      return { modelId, durationMs };
    },

    async evaluateModel({
      model: ref,
      contextId,
      testId,
      labelsId,
      seed,
    }: EvaluateModelInput): Promise<EvaluationMetrics> {
      const [model, context, test] = await Promise.all([
        loadModel(ref),
        store.getSeries(contextId),
        store.getSeries(testId),
      ]);
      const loaded = loadDetectorModel(model);
      const warm = Math.min(context.values.length, Math.max(...model.featureConfig.windowsPoints, 1));
      const score = (s: Series) => loaded.score(concatTail(context, s, warm)).flags.slice(warm);

      const cleanFlags = score(test);
      const days = Math.max((test.timestampsMs.at(-1)! - test.timestampsMs[0]!) / 86_400_000, 1 / 24);
      const clean = eventMetrics(cleanFlags, []);
      const planted = injectAnomalies(test, { seed });
      const injected = eventMetrics(score(planted.series), planted.events, warm);
      const metrics: EvaluationMetrics = {
        f1: injected.f1,
        precision: injected.precision,
        recall: injected.recall,
        plantedEvents: injected.events,
        falseAlarmsPerDay: clean.falseAlarms / days,
        flaggedRate: clean.flaggedRate,
        testPoints: test.values.length,
      };
      if (labelsId) {
        const windows = await store.getJson<[number, number][]>(labelsId);
        const labelled = eventMetrics(cleanFlags, windowsToEvents(test.timestampsMs, windows), warm);
        if (labelled.events > 0) {
          metrics.labelledF1 = labelled.f1;
          metrics.labelledRecall = labelled.recall;
        }
      }
      return metrics;
    },

    async getChampion({ detector }: { detector: string }): Promise<number | undefined> {
      return registry.getAlias(detector, 'champion');
    },

    async registerModel(input: RegisterModelInput): Promise<RegisteredVersion> {
      const model = await store.getJson<DetectorModel>(input.modelId);
      const meta: ModelVersionMeta = await registry.registerVersion({
        detector: input.spec.name,
        model,
        spec: input.spec,
        dataRange: input.range,
        parameters: {
          features: input.spec.features,
          model: input.spec.model,
          targetAnomalyRate: input.spec.targetAnomalyRate,
        },
        metrics: input.metrics,
        codeVersion: deps.codeVersion,
        runKey: input.runKey,
        ...(input.parentVersion !== undefined ? { parentVersion: input.parentVersion } : {}),
      });
      log.info('registered model version', { detector: meta.detector, version: meta.version });
      return { detector: meta.detector, version: meta.version, checksum: meta.checksum };
    },

    async setChampion({ detector, version, reason, metrics }: SetChampionInput): Promise<void> {
      const current = await registry.getAlias(detector, 'champion');
      // Idempotent under retries: a second attempt finds the alias already moved and records nothing.
      if (current === version) return;
      await registry.setAlias({ detector, alias: 'champion', action: 'promote', version, reason, metrics });
      log.info('promoted champion', { detector, version, previous: current });
    },

    async recordDecision({ detector, version, reason, metrics, action }: RecordDecisionInput): Promise<void> {
      await registry.recordDecision({ detector, alias: 'champion', action, version, reason, metrics });
    },
  };
}

export type TrainingActivities = ReturnType<typeof createTrainingActivities>;

function rangeOf(series: Series): DataRange {
  const n = series.values.length;
  if (n === 0) throw ApplicationFailure.nonRetryable(`series '${series.name}' is empty`, 'BadInput');
  return { startMs: series.timestampsMs[0]!, endMs: series.timestampsMs[n - 1]!, points: n };
}
