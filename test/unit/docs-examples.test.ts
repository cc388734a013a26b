import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseForecastSpec } from '../../ml/forecast-spec.js';
import { parseDetectorSpec } from '../../ml/spec.js';

const ROOT = resolve(import.meta.dirname, '../..');
const DOC = readFileSync(resolve(ROOT, 'docs/workflows.md'), 'utf8');

/** The JSON block after each `<!-- example: workflowType -->` marker. */
function examples(markdown: string): { workflow: string; json: string }[] {
  const found: { workflow: string; json: string }[] = [];
  const pattern = /<!-- example: (\w+) -->\s*```json\n([\s\S]*?)\n```/g;
  for (const match of markdown.matchAll(pattern)) found.push({ workflow: match[1]!, json: match[2]! });
  return found;
}

/** The same validators the workers run first thing; each throws with the field and value on a bad input. */
const validators: Record<string, (input: Record<string, unknown>) => void> = {
  trainDetector: (input) => {
    parseDetectorSpec(input);
  },
  scoreContinuously: (input) => {
    expect(Object.keys(input).every((key) => ['spec', 'trainingTaskQueue'].includes(key))).toBe(true);
    parseDetectorSpec(input.spec);
  },
  rollbackDetector: (input) => {
    expect(input).toMatchObject({ detector: expect.any(String), reason: expect.stringMatching(/\S/) });
    expect(Number.isInteger(input.version) && (input.version as number) >= 1).toBe(true);
  },
  forecastCapacity: (input) => {
    parseForecastSpec(input);
  },
};

describe('docs/workflows.md', () => {
  const blocks = examples(DOC);
  const exported = [
    ...readFileSync(resolve(ROOT, 'workflows/index.ts'), 'utf8').matchAll(/export \{ (\w+) \}/g),
  ].map((m) => m[1]!);

  it('has an example for every workflow the workers register', () => {
    expect(exported.length).toBeGreaterThan(0);
    for (const workflow of exported) expect(blocks.map((b) => b.workflow)).toContain(workflow);
  });

  it.each(blocks.map((b, i) => [`${b.workflow} #${i + 1}`, b] as const))(
    'example %s is JSON that its workflow accepts',
    (_, block) => {
      const validate = validators[block.workflow];
      expect(validate, `no validator for ${block.workflow}`).toBeDefined();
      validate!(JSON.parse(block.json));
    },
  );

  it('finds a bad example: the forecast validator names the field and the value', () => {
    expect(() =>
      parseForecastSpec({ name: 'x', workloads: [{ namespace: 'shop', name: 'a', maxReplicas: 0 }] }),
    ).toThrow("'/workloads/0/maxReplicas'");
  });
});
