import { describe, expect, it } from 'vitest';
import { defineHandler } from './handler.js';
import { HandlerDefinitionError, resolveHandler } from './resolve.js';

const defaults = {
  modelFn: () => 'default-model',
  inputFn: () => 'default-input',
  predictFn: () => 'default-prediction',
  outputFn: () => 'default-output',
};

function problemsOf(module: unknown): readonly string[] {
  try {
    resolveHandler(module, { defaults, source: 'code/inference.mjs' });
  } catch (error) {
    if (error instanceof HandlerDefinitionError) return error.problems;
    throw error;
  }
  return [];
}

describe('resolveHandler', () => {
  it('fills what the module leaves out with the defaults', () => {
    const predictFn = () => 'mine';
    const handler = resolveHandler({ predictFn }, { defaults });
    expect(handler.kind).toBe('chain');
    if (handler.kind !== 'chain') return;
    expect(handler.predictFn).toBe(predictFn);
    expect(handler.inputFn).toBe(defaults.inputFn);
    expect(handler.userFunctions).toEqual(['predictFn']);
  });

  it('reads a defineHandler() default export, named exports winning', () => {
    const fromDefault = () => 'default export';
    const named = () => 'named export';
    const handler = resolveHandler(
      { default: defineHandler({ predictFn: fromDefault, inputFn: fromDefault }), inputFn: named },
      { defaults },
    );
    if (handler.kind !== 'chain') throw new Error('expected a chain');
    expect(handler.predictFn).toBe(fromDefault);
    expect(handler.inputFn).toBe(named);
  });

  it('refuses transformFn beside the chain functions, naming them', () => {
    const problems = problemsOf({
      transformFn: () => 'x',
      inputFn: () => 'y',
      outputFn: () => 'z',
    });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('"transformFn"');
    expect(problems[0]).toContain('"inputFn", "outputFn"');
  });

  it('accepts transformFn alone, with modelFn and warmupFn', () => {
    const handler = resolveHandler(
      { transformFn: () => 'out', warmupFn: () => undefined },
      { defaults },
    );
    expect(handler.kind).toBe('transform');
    expect(handler.warmupFn).toBeTypeOf('function');
  });

  it('reports every problem at once, with the source in the message', () => {
    let message = '';
    try {
      resolveHandler(
        { predictFn: 42, model_fn: () => 1, outputFn: null },
        { source: 'code/inference.mjs' },
      );
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('invalid handler code/inference.mjs');
    expect(message).toContain('"predictFn" must be a function, got a number');
    expect(message).toContain('"outputFn" must be a function, got null');
    expect(message).toContain('"model_fn" is SageMaker\'s Python name: export it as "modelFn"');
    expect(message).toContain('no "modelFn" exported and no default to use');
  });

  it('refuses a module that is not an object', () => {
    expect(() => resolveHandler(undefined)).toThrow(HandlerDefinitionError);
  });

  it('rejects transformFn beside predictFn at compile time too', () => {
    // @ts-expect-error transformFn cannot be combined with predictFn
    defineHandler({ transformFn: () => 'x', predictFn: () => 'y' });
  });
});
