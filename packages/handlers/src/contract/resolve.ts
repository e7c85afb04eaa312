import type { PredictContext, RequestContext } from './context.js';
import type {
  HandlerOutput,
  InputFn,
  MaybePromise,
  ModelFn,
  OutputFn,
  PredictFn,
  TransformFn,
  WarmupFn,
} from './handler.js';

/**
 * The functions a handler module may export, in the order SageMaker calls them.
 *
 * @example
 * ```ts
 * HANDLER_FUNCTION_NAMES.filter((name) => name in userModule);
 * ```
 */
export const HANDLER_FUNCTION_NAMES = [
  'modelFn',
  'warmupFn',
  'inputFn',
  'predictFn',
  'outputFn',
  'transformFn',
] as const;

type HandlerFunctionName = (typeof HANDLER_FUNCTION_NAMES)[number];

// SageMaker's Python names, so that a ported module gets a pointed message.
const PYTHON_NAMES: Readonly<Record<string, HandlerFunctionName>> = {
  model_fn: 'modelFn',
  model_warmup_fn: 'warmupFn',
  input_fn: 'inputFn',
  predict_fn: 'predictFn',
  output_fn: 'outputFn',
  transform_fn: 'transformFn',
};

/**
 * A handler module that cannot be used, with every problem found in it.
 *
 * @example
 * ```ts
 * try {
 *   resolveHandler(module, { source: 'code/inference.mjs' });
 * } catch (error) {
 *   if (error instanceof HandlerDefinitionError) logger.error({ problems: error.problems }, error.message);
 * }
 * ```
 */
export class HandlerDefinitionError extends Error {
  override readonly name = 'HandlerDefinitionError';
  readonly problems: readonly string[];

  constructor(source: string, problems: readonly string[]) {
    super(`invalid handler ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

/**
 * The defaults a runtime fills in for what a user module leaves out. Written as
 * methods so that defaults typed for their own input and prediction (a codec-based
 * `outputFn` taking tensors) fit: the runtime pairs them, not the type system.
 */
export interface HandlerDefaults<TModel = unknown> {
  modelFn?: ModelFn<TModel>;
  warmupFn?: WarmupFn<TModel>;
  inputFn?(this: void, ...args: Parameters<InputFn<unknown>>): ReturnType<InputFn<unknown>>;
  predictFn?(this: void, input: unknown, model: TModel, ctx: PredictContext): MaybePromise<unknown>;
  outputFn?(
    this: void,
    prediction: unknown,
    accept: string,
    ctx: RequestContext,
  ): MaybePromise<HandlerOutput>;
}

interface ResolvedBase<TModel> {
  readonly modelFn: ModelFn<TModel>;
  readonly warmupFn: WarmupFn<TModel> | undefined;
  /** Which functions came from the user module (the rest are defaults). */
  readonly userFunctions: readonly HandlerFunctionName[];
}

/** A handler ready to run: the user's functions over the runtime's defaults. */
export type ResolvedHandler<TModel = unknown> =
  | (ResolvedBase<TModel> & {
      readonly kind: 'chain';
      readonly inputFn: InputFn<unknown>;
      readonly predictFn: PredictFn<TModel, unknown, unknown>;
      readonly outputFn: OutputFn<unknown>;
    })
  | (ResolvedBase<TModel> & {
      readonly kind: 'transform';
      readonly transformFn: TransformFn<TModel>;
    });

export interface ResolveHandlerOptions<TModel> {
  /** Defaults for what the module does not export. */
  defaults?: HandlerDefaults<TModel>;
  /** Where the module came from, for error messages (e.g. `code/inference.mjs`). */
  source?: string;
}

/**
 * Check a loaded handler module (its named exports, or a `defineHandler()` default
 * export) and fill in defaults. Every problem is reported at once: functions that
 * are not functions, SageMaker's Python names, `transformFn` beside
 * `inputFn`/`predictFn`/`outputFn`, and a chain with no `predictFn` and no default.
 *
 * @example
 * ```ts
 * const handler = resolveHandler(await import(pathToFileURL(file).href), {
 *   source: file,
 *   defaults: { inputFn: defaultInputFn, outputFn: defaultOutputFn, modelFn: loadOnnx },
 * });
 * ```
 */
export function resolveHandler<TModel = unknown>(
  module: unknown,
  options: ResolveHandlerOptions<TModel> = {},
): ResolvedHandler<TModel> {
  const source = options.source ?? 'module';
  const defaults = options.defaults ?? {};
  if (typeof module !== 'object' || module === null) {
    throw new HandlerDefinitionError(source, ['the module must export an object of functions']);
  }
  const exports = pickExports(module as Record<string, unknown>);
  const problems: string[] = [];
  const user: Partial<Record<HandlerFunctionName, (...args: never[]) => unknown>> = {};
  for (const [key, value] of Object.entries(exports)) {
    const pythonName = PYTHON_NAMES[key];
    if (pythonName !== undefined) {
      problems.push(`"${key}" is SageMaker's Python name: export it as "${pythonName}"`);
      continue;
    }
    if (!(HANDLER_FUNCTION_NAMES as readonly string[]).includes(key) || value === undefined) {
      continue;
    }
    if (typeof value !== 'function') {
      problems.push(`"${key}" must be a function, got ${describe(value)}`);
      continue;
    }
    user[key as HandlerFunctionName] = value as (...args: never[]) => unknown;
  }
  const chainNames = (['inputFn', 'predictFn', 'outputFn'] as const).filter((n) => n in user);
  if (user.transformFn !== undefined && chainNames.length > 0) {
    problems.push(
      `"transformFn" replaces the input/predict/output chain and cannot be combined with ` +
        `${chainNames.map((n) => `"${n}"`).join(', ')}: export one or the other`,
    );
  }
  const modelFn = (user.modelFn as ModelFn<TModel> | undefined) ?? defaults.modelFn;
  if (modelFn === undefined) problems.push('no "modelFn" exported and no default to use');
  const isTransform = user.transformFn !== undefined;
  const predictFn =
    (user.predictFn as PredictFn<TModel, unknown, unknown> | undefined) ?? defaults.predictFn;
  const inputFn = (user.inputFn as InputFn<unknown> | undefined) ?? defaults.inputFn;
  const outputFn = (user.outputFn as OutputFn<unknown> | undefined) ?? defaults.outputFn;
  if (!isTransform) {
    if (predictFn === undefined) problems.push('no "predictFn" exported and no default to use');
    if (inputFn === undefined) problems.push('no "inputFn" exported and no default to use');
    if (outputFn === undefined) problems.push('no "outputFn" exported and no default to use');
  }
  if (problems.length > 0 || modelFn === undefined) {
    throw new HandlerDefinitionError(source, problems);
  }
  const base = {
    modelFn,
    warmupFn: (user.warmupFn as WarmupFn<TModel> | undefined) ?? defaults.warmupFn,
    userFunctions: HANDLER_FUNCTION_NAMES.filter((n) => n in user),
  };
  if (isTransform) {
    return { ...base, kind: 'transform', transformFn: user.transformFn as TransformFn<TModel> };
  }
  if (predictFn === undefined || inputFn === undefined || outputFn === undefined) {
    throw new HandlerDefinitionError(source, problems);
  }
  return { ...base, kind: 'chain', inputFn, predictFn, outputFn };
}

// ESM namespaces put `defineHandler()` output on `default`; named exports win over it.
function pickExports(module: Record<string, unknown>): Record<string, unknown> {
  const fallback = module['default'];
  if (typeof fallback === 'object' && fallback !== null) {
    return { ...(fallback as Record<string, unknown>), ...withoutDefault(module) };
  }
  return module;
}

function withoutDefault(module: Record<string, unknown>): Record<string, unknown> {
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(module)) if (key !== 'default') rest[key] = value;
  return rest;
}

function describe(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}
