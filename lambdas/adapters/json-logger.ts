import type { Logger } from '../core/ports';

/**
 * JSON-lines logger. Callers pass ids, codes and timings; never request bodies, headers or
 * tokens. As a last guard, any string field that contains a registered secret is redacted.
 */
export function jsonLogger(
  write: (line: string) => void = (l) => process.stdout.write(l),
  secrets: () => readonly string[] = () => [],
): Logger {
  const emit = (level: string, msg: string, fields?: Record<string, unknown>) => {
    let line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields });
    for (const s of secrets()) if (s.length >= 8) line = line.split(s).join('[REDACTED]');
    write(`${line}\n`);
  };
  return {
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}
