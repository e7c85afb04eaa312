import {
  InvokeEndpointCommand,
  SageMakerRuntimeClient,
  SageMakerRuntimeServiceException,
} from '@aws-sdk/client-sagemaker-runtime';
import { SpanKind } from '@opentelemetry/api';
import { InferenceError, type HandlerLogger, type InferenceErrorCode } from '@switchyard/handlers';
import { startChildSpan, traced } from '../tracing.js';
import {
  chunkByRecords,
  type Backend,
  type BackendRequest,
  type BackendResponse,
} from './backend.js';

export interface SageMakerBackendOptions {
  readonly endpointName: string;
  readonly region: string;
  /** An endpoint URL other than AWS's (a VPC endpoint, an emulator). */
  readonly endpoint?: string | undefined;
  readonly targetVariant?: string | undefined;
  readonly targetModel?: string | undefined;
  readonly logger: HandlerLogger;
}

/** SageMaker Runtime error names → our codes, and whether another variant may succeed. */
const ERRORS: Readonly<Record<string, { code: InferenceErrorCode; retryable: boolean }>> = {
  ValidationError: { code: 'INVALID_INPUT', retryable: false },
  ModelError: { code: 'MODEL_ERROR', retryable: false },
  ModelNotReadyException: { code: 'TOO_MANY_REQUESTS', retryable: true },
  ThrottlingException: { code: 'TOO_MANY_REQUESTS', retryable: true },
  ServiceUnavailable: { code: 'UNAVAILABLE', retryable: true },
  InternalFailure: { code: 'INTERNAL', retryable: true },
  InternalDependencyException: { code: 'UNAVAILABLE', retryable: true },
};

function mapError(error: unknown): BackendResponse {
  if (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError')) {
    return {
      ok: false,
      error: new InferenceError(
        'TIMEOUT',
        'the SageMaker endpoint did not answer before the deadline',
      ).toJSON(),
      retryable: true,
    };
  }
  if (error instanceof SageMakerRuntimeServiceException) {
    const known = ERRORS[error.name] ?? { code: 'UNAVAILABLE' as const, retryable: true };
    let message = `SageMaker ${error.name}: ${error.message}`;
    const details: Record<string, unknown> = { sagemakerError: error.name };
    if (error.name === 'ModelError') {
      const { OriginalStatusCode, OriginalMessage } = error as unknown as {
        OriginalStatusCode?: number;
        OriginalMessage?: string;
      };
      details['originalStatusCode'] = OriginalStatusCode;
      message = `the model answered ${String(OriginalStatusCode ?? '?')}: ${OriginalMessage ?? error.message}`;
    }
    return {
      ok: false,
      error: new InferenceError(known.code, message, { details }).toJSON(),
      // A throttled caller is told when to come back, as the gateway's own 429s do.
      ...(known.code === 'TOO_MANY_REQUESTS' ? { retryAfter: 1 } : {}),
      retryable: known.retryable,
    };
  }
  const reason = error instanceof Error ? error.message : String(error);
  return {
    ok: false,
    error: new InferenceError('UNAVAILABLE', `SageMaker endpoint unreachable: ${reason}`).toJSON(),
    retryable: true,
  };
}

/**
 * A SageMaker real-time endpoint as a variant. The SDK's own retries are off: the
 * router owns retries (fallback to another variant), and a request's deadline
 * aborts the call.
 */
export function createSageMakerBackend(options: SageMakerBackendOptions): Backend {
  const client = new SageMakerRuntimeClient({
    region: options.region,
    maxAttempts: 1,
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
  });
  const call = async (request: BackendRequest): Promise<BackendResponse> => {
    try {
      const output = await client.send(
        new InvokeEndpointCommand({
          EndpointName: options.endpointName,
          Body: request.body,
          ContentType: request.contentType,
          ...(request.accept === undefined ? {} : { Accept: request.accept }),
          ...(request.customAttributes === undefined
            ? {}
            : { CustomAttributes: request.customAttributes }),
          ...(options.targetVariant === undefined ? {} : { TargetVariant: options.targetVariant }),
          ...((request.targetModel ?? options.targetModel) === undefined
            ? {}
            : { TargetModel: request.targetModel ?? options.targetModel }),
          InferenceId: request.requestId.slice(0, 64),
        }),
        { abortSignal: AbortSignal.timeout(Math.max(1, request.deadline - Date.now())) },
      );
      return {
        ok: true,
        body: output.Body,
        contentType: output.ContentType ?? 'application/octet-stream',
        customAttributes: output.CustomAttributes,
      };
    } catch (error) {
      const mapped = mapError(error);
      if (!mapped.ok)
        options.logger.warn(
          { endpoint: options.endpointName, code: mapped.error.code },
          'SageMaker call failed',
        );
      return mapped;
    }
  };
  const backend: Backend = {
    type: 'sagemaker',
    healthy: () => true,
    // An endpoint takes one payload per call: records go as calls, 16 at a time.
    runChunk: (chunk) => chunkByRecords((request) => backend.invoke(request), chunk, 16),
    invoke(request) {
      const span = startChildSpan('sagemaker.InvokeEndpoint', SpanKind.CLIENT);
      if (span === undefined) return call(request);
      span.setAttributes({
        'rpc.system': 'aws-api',
        'rpc.service': 'SageMaker Runtime',
        'rpc.method': 'InvokeEndpoint',
        'cloud.region': options.region,
        'aws.sagemaker.endpoint_name': options.endpointName,
      });
      return traced(span, () => call(request));
    },
    close() {
      client.destroy();
      return Promise.resolve();
    },
  };
  return backend;
}
