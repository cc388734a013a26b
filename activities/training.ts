import { Context, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { validationCoverageWarning } from '../ml/calibration.js';
import {
  type AnyDetectorModel,
  buildDetectorModel,
  concatTail,
  type DetectorModel,
  fitEnsembleModel,
  loadDetectorModel,
  type MemberKind,
  type SerializedMember,
  scoringContextPoints,
  trainDetectorModel,
  trainingRows,
} from '../ml/detector-model.js';
import { eventMetrics, injectAnomalies, windowsToEvents } from '../ml/evaluation/events.js';
import { IsolationForest, type SerializedIsolationForest } from '../ml/isolation-forest.js';
import {
  DEFAULT_LSTM_OPTIONS,
  type LstmForecasterOptions,
  type LstmTrainingCheckpoint,
  trainLstmForecaster,
} from '../ml/models/lstm.js';
import { ProphetModel, type ProphetModelOptions } from '../ml/models/prophet.js';
import { type Series, sliceSeries } from '../ml/series.js';
import type { DetectorSpec } from '../ml/spec.js';
import type { ArtifactStore } from '../registry/artifact-store.js';
import { ModelNotFoundError, type ModelRegistry, type ModelVersionMeta } from '../registry/model-registry.js';
import type { ShadowLog } from '../registry/shadow-log.js';
import { badInput, parseSpecOrFail, type SourceReaders } from './sources.js';

export interface TrainingActivityDeps {
  readonly store: ArtifactStore;
  readonly registry: ModelRegistry;
  readonly sources: SourceReaders;
  /** Recorded with every version, e.g. `0.1.0+3f2a9c1`. */
  readonly codeVersion: string;
  /** What challengers did in shadow beside the champion; written by the scoring worker. */
  readonly shadowLog?: ShadowLog;
}

export interface TrainMemberInput {
  readonly spec: DetectorSpec;
  readonly kind: MemberKind;
  readonly trainId: string;
  readonly validationId: string;
}

export interface TrainMemberResult {
  readonly kind: MemberKind;
  /** The stored member, a {@link SerializedMember}. */
  readonly artifactId: string;
  readonly durationMs: number;
  /** Set when the activity continued from a checkpoint of an earlier attempt. */
  readonly resumedFrom?: number;
}

/** Heartbeat details of a member's training; the last one reaches the next attempt. */
export interface MemberProgress {
  readonly kind: MemberKind;
  readonly stage: string;
  readonly rows?: number;
  readonly treesDone?: number;
  readonly trees?: number;
  readonly epoch?: number;
  readonly epochs?: number;
  readonly loss?: number;
  /** A partial model stored as an artifact; a retry continues from it. */
  readonly checkpointId?: string;
}

export interface FitEnsembleInput {
  readonly spec: DetectorSpec;
  readonly members: readonly TrainMemberResult[];
  readonly trainId: string;
  readonly validationId: string;
}

export interface FitEnsembleResult {
  readonly modelId: string;
  readonly weights: Record<string, number>;
}

export interface SetAliasInput {
  readonly detector: string;
  readonly version: number;
  readonly reason: string;
  readonly metrics?: EvaluationMetrics;
}

/** Fewest planted anomalies an evaluation scores a model on. */
const MIN_PLANTED_EVENTS = 8;

/** Trees grown between two checkpoints of a forest member. */
const TREES_PER_CHECKPOINT = 50;

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
  /** What the split means for the model's quality, for the person who trains it. */
  readonly warnings?: readonly string[];
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
      return parseSpecOrFail(input);
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
      const coverage = validationCoverageWarning(validation.timestampsMs, validationFraction);
      if (coverage) log.warn('short validation split', { dataset: datasetId, warning: coverage });
      return {
        trainId,
        validationId,
        testId,
        trainRange: rangeOf(train),
        testRange: rangeOf(test),
        ...(coverage ? { warnings: [coverage] } : {}),
      };
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

    /**
     * Trains one member of the ensemble. Heartbeats report progress (trees, epochs, loss); a forest
     * stores a checkpoint every {@link TREES_PER_CHECKPOINT} trees and a retry after a crash grows
     * only the trees that are missing.
     */
    async trainMember({ spec, kind, trainId, validationId }: TrainMemberInput): Promise<TrainMemberResult> {
      const started = performance.now();
      const context = Context.current();
      const [train, validation] = await Promise.all([
        store.getSeries(trainId),
        store.getSeries(validationId),
      ]);
      const options = spec.models.find((m) => m.kind === kind)?.options ?? {};
      const heartbeat = (progress: Omit<MemberProgress, 'kind'>) => context.heartbeat({ kind, ...progress });
      let member: SerializedMember;
      let resumedFrom: number | undefined;
      try {
        switch (kind) {
          case 'isolation-forest': {
            const modelOptions = {
              features: spec.features,
              forest: spec.model,
              targetAnomalyRate: spec.targetAnomalyRate,
            };
            const usable = trainingRows(train, spec.features);
            const previous = context.info.heartbeatDetails as MemberProgress | undefined;
            let trees: number[][] = [];
            let checkpointId = previous?.checkpointId;
            if (checkpointId) {
              trees = (await store.getJson<SerializedIsolationForest>(checkpointId)).trees;
              resumedFrom = trees.length;
              log.info('resuming forest from checkpoint', { detector: spec.name, treesDone: trees.length });
            }
            let serialized: SerializedIsolationForest | undefined;
            while (trees.length < spec.model.trees) {
              const count = Math.min(TREES_PER_CHECKPOINT, spec.model.trees - trees.length);
              // Each chunk has its own seed, so a resumed forest equals one grown without a crash.
              const chunk = IsolationForest.fit(usable.rows, usable.dims, {
                trees: count,
                sampleSize: spec.model.sampleSize,
                seed: spec.model.seed * 100_003 + trees.length,
              }).toJSON();
              trees = trees.concat(chunk.trees);
              serialized = { ...chunk, trees };
              checkpointId = await store.putJson('checkpoint', serialized);
              heartbeat({
                stage: 'trees',
                rows: usable.count,
                treesDone: trees.length,
                trees: spec.model.trees,
                checkpointId,
              });
              await new Promise<void>((resolve) => setImmediate(resolve));
            }
            serialized ??= await store.getJson<SerializedIsolationForest>(checkpointId!);
            heartbeat({ stage: 'calibrating', rows: usable.count, treesDone: trees.length, checkpointId });
            const forest = IsolationForest.fromJSON(serialized);
            member = { kind, model: buildDetectorModel(train, validation, modelOptions, forest) };
            break;
          }
          case 'lstm': {
            // Every epoch leaves a checkpoint (weights and optimiser state) whose id rides on the
            // heartbeat, so the attempt after a crash continues where the dead one stopped.
            const previous = context.info.heartbeatDetails as MemberProgress | undefined;
            const resumeFrom = previous?.checkpointId
              ? await store.getJson<LstmTrainingCheckpoint>(previous.checkpointId)
              : undefined;
            if (resumeFrom) {
              resumedFrom = resumeFrom.epoch;
              log.info('resuming LSTM from checkpoint', { detector: spec.name, epoch: resumeFrom.epoch });
            }
            let lastLoss: number | undefined;
            // Heartbeats go out from the checkpoint callback, so even the first one (the SDK sends
            // it at once and throttles the rest) names a checkpoint a retry can continue from.
            const forecaster = await trainLstmForecaster(
              train.values,
              options as LstmForecasterOptions,
              (p) => {
                lastLoss = p.loss;
                if (p.epoch === p.epochs) heartbeat({ stage: 'epochs', rows: train.values.length, ...p });
              },
              {
                ...(resumeFrom ? { resumeFrom } : {}),
                onCheckpoint: async (checkpoint) => {
                  const checkpointId = await store.putJson('checkpoint', checkpoint);
                  heartbeat({
                    stage: 'epochs',
                    rows: train.values.length,
                    epoch: checkpoint.epoch,
                    epochs: (options as LstmForecasterOptions).epochs ?? DEFAULT_LSTM_OPTIONS.epochs,
                    ...(lastLoss !== undefined ? { loss: lastLoss } : {}),
                    checkpointId,
                  });
                },
              },
            );
            member = { kind, model: forecaster.toJSON() };
            break;
          }
          case 'prophet': {
            heartbeat({ stage: 'fitting', rows: train.values.length });
            const prophet = ProphetModel.fit(
              train.timestampsMs,
              train.values,
              options as ProphetModelOptions,
            );
            member = { kind, model: prophet.toJSON() };
            prophet.free();
            break;
          }
        }
      } catch (err) {
        if (err instanceof RangeError)
          throw badInput(`member '${kind}' of '${spec.name}': ${err.message}`, err);
        throw err;
      }
      const artifactId = await store.putJson('member', member);
      const durationMs = Math.round(performance.now() - started);
      log.info('trained ensemble member', {
        detector: spec.name,
        kind,
        rows: train.values.length,
        durationMs,
      });
      return { kind, artifactId, durationMs, ...(resumedFrom !== undefined ? { resumedFrom } : {}) };
    },

    /** Calibrates every member on the validation split and weighs them into one model. */
    async fitEnsemble({
      spec,
      members,
      trainId,
      validationId,
    }: FitEnsembleInput): Promise<FitEnsembleResult> {
      const [train, validation, ...stored] = await Promise.all([
        store.getSeries(trainId),
        store.getSeries(validationId),
        ...members.map((m) => store.getJson<SerializedMember>(m.artifactId)),
      ]);
      const weights: Record<string, number> = {};
      const weighted = (stored as SerializedMember[]).map((member) => {
        const weight = spec.models.find((m) => m.kind === member.kind)?.weight ?? 1;
        weights[member.kind] = weight;
        return { ...member, weight };
      });
      Context.current().heartbeat({ stage: 'calibrating', members: weighted.length });
      let model: AnyDetectorModel;
      try {
        const driftPoints = spec.models.find((m) => m.kind === 'prophet')?.driftPoints;
        model = await fitEnsembleModel(weighted, train, validation, {
          features: spec.features,
          targetAnomalyRate: spec.targetAnomalyRate,
          ...(driftPoints !== undefined ? { forecastDriftPoints: driftPoints } : {}),
        });
      } catch (err) {
        if (err instanceof RangeError) throw badInput(err.message, err);
        throw err;
      }
      return { modelId: await store.putJson('model', model), weights };
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
      const loaded = await loadDetectorModel(model);
      const warm = Math.min(context.values.length, Math.max(scoringContextPoints(model), 1));
      const score = (s: Series) => loaded.score(concatTail(context, s, warm)).flags.slice(warm);

      const cleanFlags = score(test);
      const days = Math.max((test.timestampsMs.at(-1)! - test.timestampsMs[0]!) / 86_400_000, 1 / 24);
      const clean = eventMetrics(cleanFlags, []);
      // At least MIN_PLANTED_EVENTS anomalies whatever the test split's length: with one or two,
      // a single lucky or unlucky flag would decide between champion and challenger.
      const perThousand = Math.max(2, (MIN_PLANTED_EVENTS * 1000) / test.values.length);
      const planted = injectAnomalies(test, { seed, perThousand });
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

    /** Points the challenger alias at a version, which the scoring loop then scores in shadow. */
    async setChallenger({ detector, version, reason, metrics }: SetAliasInput): Promise<void> {
      if ((await registry.getAlias(detector, 'challenger')) === version) return;
      await registry.setAlias({
        detector,
        alias: 'challenger',
        action: 'promote',
        version,
        reason,
        ...(metrics ? { metrics } : {}),
      });
    },

    /** Makes an earlier version the champion again, recording the figures it was registered with. */
    async rollbackChampion({
      detector,
      version,
      reason,
    }: SetAliasInput): Promise<{ previousVersion?: number }> {
      let metrics: EvaluationMetrics;
      try {
        metrics = (await registry.getMeta(detector, version)).metrics;
      } catch (err) {
        if (err instanceof ModelNotFoundError) throw badInput(`'version' (${version}): ${err.message}`, err);
        throw err;
      }
      const current = await registry.getAlias(detector, 'champion');
      if (current === version) return { previousVersion: current };
      await registry.setAlias({ detector, alias: 'champion', action: 'rollback', version, reason, metrics });
      // A challenger in shadow is dropped too: it was judged against the champion being replaced.
      await registry.setAlias({ detector, alias: 'challenger', action: 'rollback', version, reason });
      log.info('rolled back champion', { detector, version, previous: current });
      return current !== undefined ? { previousVersion: current } : {};
    },

    async shadowSummary(input: { detector: string; challengerVersion: number; sinceMs: number }) {
      if (!deps.shadowLog) return undefined;
      return deps.shadowLog.summarize(input.detector, input.challengerVersion, input.sinceMs);
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
