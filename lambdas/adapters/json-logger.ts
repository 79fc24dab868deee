import type { Logger } from '../core/ports';
import { REDACTED, redactSecrets } from '../core/redact';

/**
 * What a logger prints of one call, scrubbed by the redaction of the audit records
 * (`lambdas/core/redact.ts`): known secret values (in their usual encodings) and credential
 * shapes (`SECRET_PATTERNS`) are cut out of the message and of every field, member names
 * included. Both loggers (this one, locally; `aws/powertools-logger.ts` on Lambda) print only
 * this.
 */
export function scrubbed(
  message: string,
  fields: Record<string, unknown> | undefined,
  secrets: readonly string[],
): { message: string; fields: Record<string, unknown> } {
  return redactSecrets({ message, fields: fields ?? {} }, secrets);
}

/**
 * JSON-lines logger. Callers pass ids, codes and timings; never request bodies, headers or
 * tokens. As a last guard, every line is {@link scrubbed}, and a registered secret left in the
 * printed line is cut out of it.
 */
export function jsonLogger(
  write: (line: string) => void = (l) => process.stdout.write(l),
  secrets: () => readonly string[] = () => [],
): Logger {
  const emit = (level: string, msg: string, extra?: Record<string, unknown>) => {
    const known = secrets();
    const { message, fields } = scrubbed(msg, extra, known);
    let line = JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields });
    for (const s of known) if (s.length >= 8) line = line.split(s).join(REDACTED);
    write(`${line}\n`);
  };
  return {
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}
