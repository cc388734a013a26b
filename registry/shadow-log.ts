import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** One scoring step in which a challenger was scored beside the champion on the same points. */
export interface ShadowRecord {
  readonly atMs: number;
  readonly championVersion: number;
  readonly challengerVersion: number;
  readonly points: number;
  readonly championFlags: number;
  readonly challengerFlags: number;
  readonly championScoreSum: number;
  readonly challengerScoreSum: number;
}

/** What a challenger did in shadow: the figures a promotion decision is recorded with. */
export interface ShadowSummary extends Record<string, number> {
  shadowSteps: number;
  shadowPoints: number;
  shadowChampionFlagRate: number;
  shadowChallengerFlagRate: number;
  shadowChampionMeanScore: number;
  shadowChallengerMeanScore: number;
}

export interface ShadowLog {
  append(detector: string, record: ShadowRecord): Promise<void>;
  summarize(detector: string, challengerVersion: number, sinceMs: number): Promise<ShadowSummary>;
}

/** JSON lines beside the registry's detector folder: `<root>/registry/<detector>/shadow.jsonl`. */
export function createFileShadowLog(root: string): ShadowLog {
  const pathOf = (detector: string) => join(root, 'registry', detector, 'shadow.jsonl');
  return {
    async append(detector, record) {
      const path = pathOf(detector);
      await mkdir(dirname(path), { recursive: true });
      await appendFile(path, `${JSON.stringify(record)}\n`);
    },

    async summarize(detector, challengerVersion, sinceMs) {
      let text = '';
      try {
        text = await readFile(pathOf(detector), 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      const records = text
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as ShadowRecord)
        .filter((r) => r.challengerVersion === challengerVersion && r.atMs >= sinceMs);
      const sum = (pick: (r: ShadowRecord) => number) => records.reduce((acc, r) => acc + pick(r), 0);
      const points = sum((r) => r.points);
      const per = (total: number) => (points === 0 ? 0 : total / points);
      return {
        shadowSteps: records.length,
        shadowPoints: points,
        shadowChampionFlagRate: per(sum((r) => r.championFlags)),
        shadowChallengerFlagRate: per(sum((r) => r.challengerFlags)),
        shadowChampionMeanScore: per(sum((r) => r.championScoreSum)),
        shadowChallengerMeanScore: per(sum((r) => r.challengerScoreSum)),
      };
    },
  };
}
