import { openAsBlob } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Decoded } from '@switchyard/handlers';
import type { packModel } from '@switchyard/worker';
import { deploy as deployArchive, type DeployOptions } from './deploy.js';
import type { Predictor } from './predictor.js';

export {
  csvDeserializer,
  csvSerializer,
  DeployError,
  jsonDeserializer,
  jsonSerializer,
  npyDeserializer,
  npySerializer,
  Predictor,
  PredictorError,
  toTensor,
} from './index.js';
export type {
  DeployBackend,
  DeploymentState,
  DeployOptions,
  Deserializer,
  ModelSettings,
  NestedNumbers,
  PredictInput,
  Prediction,
  PredictOptions,
  PredictorOptions,
  Serializer,
} from './index.js';

/** A deployment packed here from a model and a handler, instead of a ready archive. */
export interface PackedDeployOptions<T = Decoded> extends Omit<DeployOptions<T>, 'modelData'> {
  /** A model directory, a `.onnx` file, or a `model.tar.gz` whose code is replaced. */
  readonly modelDir: string;
  /** The handler module (`.mjs` or `.js`), packed as `code/inference.<ext>`. */
  readonly entryPoint: string;
  /** More code for `code/` (modules the entry point imports, a `package.json`). */
  readonly sourceDir?: string;
  readonly modelData?: never;
}

/** {@link DeployOptions} with a ready archive or location, or {@link PackedDeployOptions}. */
export type NodeDeployOptions<T = Decoded> =
  | (DeployOptions<T> & {
      readonly modelDir?: never;
      readonly entryPoint?: never;
      readonly sourceDir?: never;
    })
  | PackedDeployOptions<T>;

/**
 * `@switchyard/worker` is an optional peer dependency, loaded only to pack: it brings
 * ONNX Runtime's native binaries, which callers that deploy ready archives (or run
 * the client in a browser) should not have to install.
 */
async function loadPacker(): Promise<typeof packModel> {
  try {
    return (await import('@switchyard/worker')).packModel;
  } catch (error) {
    throw new Error(
      'deploying from modelDir packs the model with @switchyard/worker: install it beside @switchyard/client',
      { cause: error },
    );
  }
}

/**
 * {@link deployArchive | deploy}, and in Node also from a model directory and a
 * handler: packs them into a `model.tar.gz` in SageMaker's layout (as
 * `switchyard pack` does), uploads it to the gateway and deploys it.
 *
 * @example
 * ```ts
 * import { deploy } from '@switchyard/client/node';
 *
 * const iris = await deploy({
 *   endpoint: 'http://localhost:8080',
 *   model: 'iris',
 *   variant: 'custom',
 *   modelDir: 'models/iris',
 *   entryPoint: 'src/inference.mjs',
 * });
 * ```
 */
export async function deploy<T = Decoded>(options: NodeDeployOptions<T>): Promise<Predictor<T>> {
  if (options.modelDir === undefined) return deployArchive(options);
  const { modelDir, entryPoint, sourceDir, ...rest } = options;
  const pack = await loadPacker();
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-deploy-'));
  try {
    const output = join(dir, 'model.tar.gz');
    await pack({
      model: modelDir,
      entryPoint,
      output,
      ...(sourceDir === undefined ? {} : { sourceDir }),
    });
    return await deployArchive({ ...rest, modelData: await openAsBlob(output) });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
