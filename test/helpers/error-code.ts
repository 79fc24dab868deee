import { AirlockError } from '../../lambdas/core/errors';

/** The error code `fn` throws, or `'no error'`; anything not an AirlockError is rethrown. */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof AirlockError) return err.code;
    throw err;
  }
  return 'no error';
}
