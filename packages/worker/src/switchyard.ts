#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { PackError, packModel } from './packaging/pack.js';

const HELP = `switchyard pack --model DIR_OR_FILE --entry-point FILE [--source-dir DIR] -o model.tar.gz

Builds a model.tar.gz in SageMaker's layout: the model's files at the top, the
entry point as code/inference.mjs (or .js) with --source-dir's files beside it.
--model may be a directory, an .onnx file, or an existing model.tar.gz, whose
code is then replaced (a repack). The entry point is loaded to check that it
exports only handler functions (modelFn, warmupFn, inputFn, predictFn, outputFn,
transformFn), and never transformFn beside the others.`;

try {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      'entry-point': { type: 'string' },
      'source-dir': { type: 'string' },
      output: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true || positionals[0] !== 'pack') {
    console.log(HELP);
    process.exitCode = values.help === true ? 0 : 2;
  } else {
    const { model, output } = values;
    const entryPoint = values['entry-point'];
    if (model === undefined || entryPoint === undefined || output === undefined) {
      throw new PackError('pack needs --model, --entry-point and -o (see --help)');
    }
    const sourceDir = values['source-dir'];
    const { files } = await packModel({
      model,
      entryPoint,
      output,
      ...(sourceDir === undefined ? {} : { sourceDir }),
    });
    console.log(`wrote ${output}:\n  ${files.join('\n  ')}`);
  }
} catch (error) {
  console.error(`switchyard: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
