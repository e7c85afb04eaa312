import {
  BATCHING_DEFAULTS,
  NAME_PATTERN,
  QUEUE_VARIANT_DEFAULTS,
  batchingSchema,
  deploymentBackendSchema,
  modelSettingsSchema,
} from '@switchyard/handlers';
import { z } from 'zod';

/** `POST /v1/admin/models`. */
export const createModelBody = modelSettingsSchema.extend({
  name: z.string().regex(NAME_PATTERN, 'letters, digits, ".", "_" or "-", at most 128'),
});

/** `PUT /v1/admin/models/{model}/variants/{variant}`. */
export const deployVariantBody = z.object({
  /** Relative share of traffic once in service. @defaultValue 1, as SageMaker's InitialVariantWeight */
  weight: z.number().nonnegative().default(1),
  /** @defaultValue a queue served by the `default` pool of multi-model workers */
  backend: deploymentBackendSchema.default({
    type: 'queue',
    pool: 'default',
    ...QUEUE_VARIANT_DEFAULTS,
  }),
  /** An uploaded archive's location (`POST /v1/admin/artifacts`), an `s3://` URL or a path. */
  modelData: z.string().min(1).max(2048).optional(),
  /** `modelData` is a prefix; requests name an archive under it with X-Amzn-SageMaker-Target-Model. */
  multiModel: z.boolean().default(false),
  batching: batchingSchema.default(BATCHING_DEFAULTS),
});

export type DeployVariantBody = z.infer<typeof deployVariantBody>;
