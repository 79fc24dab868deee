import * as z from 'zod';

/** Parses a function's environment once, at cold start, failing with every problem named. */
export function loadEnv<S extends z.ZodType>(
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new Error(`Invalid function configuration: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/** A `true`/`false` environment variable, false when unset. */
export const envFlag = z
  .enum(['true', 'false'])
  .default('false')
  .transform((v) => v === 'true');

/**
 * The kill switch and read-only mode: the control table the operator sets at run time
 * (`CONTROL_TABLE_NAME`), and the deploy-time override (`-c contained=true`, `-c readOnly=true`),
 * which holds whatever the table says.
 */
export const controlEnv = {
  CONTROL_TABLE_NAME: z.string().min(1),
  AIRLOCK_CONTAINED: envFlag,
  AIRLOCK_READ_ONLY: envFlag,
};
