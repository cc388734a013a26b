import Type, { type TObject, type TProperties } from 'typebox';
import { Compile } from 'typebox/compile';
import Value from 'typebox/value';

/**
 * Validation of a plain-JSON spec whose `source` is one of several shapes told apart by `kind`.
 * The source is checked against the one branch its `kind` names, so errors speak of that branch
 * only instead of a union's "matches none of", and every message names the path and the value.
 */
export interface TaggedSpecParser {
  /** Returns the spec with defaults filled, or throws `error(message)` listing what is wrong. */
  parse(input: unknown): Record<string, unknown>;
}

export function createTaggedSpecParser(options: {
  /** What the spec is called in messages, e.g. 'detector spec'. */
  label: string;
  schema: TObject<TProperties>;
  sources: Record<string, TObject<TProperties>>;
  error: (message: string) => Error;
  /** @default 8 */
  maxProblems?: number;
}): TaggedSpecParser {
  const kinds = Object.keys(options.sources);
  const envelope = Compile(
    Type.Object({ ...options.schema.properties, source: Type.Unknown() }, { additionalProperties: false }),
  );
  const sources = Object.fromEntries(kinds.map((k) => [k, Compile(options.sources[k]!)]));

  return {
    parse(input) {
      if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        throw options.error(`${options.label} must be a JSON object, got ${describe(input)}`);
      }
      const spec = Value.Default(options.schema, Value.Clone(input)) as Record<string, unknown>;
      const problems: string[] = [];
      collectProblems(envelope.Errors(spec), '', spec, problems);

      const source = spec.source as { kind?: unknown } | undefined;
      if (source === undefined) {
        // Reported as required by the envelope.
      } else if (typeof source !== 'object' || source === null) {
        problems.push(`'/source' must be an object with a 'kind' (got ${describe(source)})`);
      } else if (!kinds.includes(source.kind as string)) {
        problems.push(`'/source/kind' must be one of ${kinds.join(', ')} (got ${describe(source.kind)})`);
      } else {
        const kind = source.kind as string;
        spec.source = Value.Default(options.sources[kind]!, source);
        collectProblems(sources[kind]!.Errors(spec.source), '/source', spec, problems);
      }
      if (problems.length > 0) {
        throw options.error(
          `${options.label} is invalid: ${problems.slice(0, options.maxProblems ?? 8).join('; ')}`,
        );
      }
      return spec;
    },
  };
}

interface SchemaError {
  readonly keyword: string;
  readonly schemaPath: string;
  readonly instancePath: string;
  readonly message: string;
  readonly params: object;
}

interface SchemaErrorParams {
  readonly requiredProperties?: string[];
  readonly allowedValue?: unknown;
}

function collectProblems(
  errors: Iterable<SchemaError>,
  prefix: string,
  spec: unknown,
  problems: string[],
): void {
  // A union of literals reports one `const` error per member before its `anyOf` summary;
  // they are gathered into a single "must be one of" naming the allowed values.
  const allowed = new Map<string, unknown[]>();
  for (const e of errors) {
    const params = e.params as SchemaErrorParams;
    const path = `${prefix}${e.instancePath}`;
    const got = (at: string) => `(got ${describe(pointer(spec, at))})`;
    if (e.keyword === 'required') {
      for (const missing of params.requiredProperties ?? [])
        problems.push(`'${path}/${missing}' is required`);
    } else if (e.keyword === 'boolean' && e.schemaPath.endsWith('/additionalProperties')) {
      problems.push(`'${path}' is not a known field ${got(path)}`);
    } else if (e.keyword === 'additionalProperties') {
      // Each extra field was already reported on its own path.
    } else if (e.keyword === 'const') {
      allowed.set(path, [...(allowed.get(path) ?? []), params.allowedValue]);
    } else if (e.keyword === 'anyOf' && allowed.has(path)) {
      const values = allowed.get(path)!.map((v) => JSON.stringify(v));
      problems.push(`'${path}' must be one of ${values.join(', ')} ${got(path)}`);
    } else {
      problems.push(`'${path || '/'}' ${e.message} ${got(path)}`);
    }
  }
}

function pointer(root: unknown, path: string): unknown {
  let at: unknown = root;
  for (const part of path.split('/').slice(1)) {
    if (typeof at !== 'object' || at === null) return undefined;
    at = (at as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return at;
}

/** A value as JSON, cut at 80 characters, for error messages. */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
