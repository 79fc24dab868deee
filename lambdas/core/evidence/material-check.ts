import { HOUR_MS, requestIdOfAuditKey, stampOfAuditKey } from '../audit-key';
import { AirlockError } from '../errors';
import { chainProblem } from './digest-chain';
import {
  type AuditDigest,
  DIGEST_DUE_MS,
  type DigestMaterial,
  digestKey,
  digestKeyLike,
  hourOfKeyText,
  parseDigest,
} from './digest-format';
import { timestampMismatch } from './object-checks';
import type { IntegrityProblem, IntegrityResult } from './types';
import { byKey, hourFloor, iso, parseWindow, problem, sha256 } from './verify-kit';

/**
 * The offline check of an evidence pack: the records' exact lines against the material's object
 * hashes and the digests (`altered`), each record's `timestamp` against its key (`altered`), every
 * digested record of the window present (`missing`, decided by the time stamp in each digested
 * key), records no digest of their hour lists (`not_in_digest`), the digests chained
 * (`digest_chain_broken`), and, given `asOf` (when the pack was made, ISO 8601), a digest for
 * every hour of the window that had ended and settled by then (`no_digest`), so hours cut off the
 * end of a pack together with their digest show. Records of hours the material has no digest for
 * are not proven, and a note says so. Needs no AWS access. Throws `validation_failed` for a
 * malformed window or `asOf`.
 */
export function verifyDigestMaterial(
  records: { key: string; line: string }[],
  material: DigestMaterial,
  window: { since: string; until: string },
  asOf?: string,
): IntegrityResult {
  const { since, until } = parseWindow(window);
  const madeAt = asOf === undefined ? null : Date.parse(asOf);
  if (madeAt !== null && !Number.isFinite(madeAt)) {
    throw new AirlockError(
      'validation_failed',
      'asOf must be an ISO 8601 date-time, e.g. 2026-03-02T10:00:00Z.',
    );
  }
  const problems: IntegrityProblem[] = [];
  const notes: string[] = [];

  const digests: { key: string; body: string; hour: number; digest: AuditDigest }[] = [];
  for (const d of material.digests) {
    const parsed = parseDigest(d.body, hourOfKeyText(d.key));
    if ('digest' in parsed) digests.push({ ...d, hour: parsed.hour, digest: parsed.digest });
    else problems.push(problem('unparsable', d.key, parsed.error));
  }
  digests.sort((a, b) => a.hour - b.hour);
  const byHour = new Map(digests.map((d) => [d.hour, d]));
  const objects = new Map(material.objects.map((o) => [o.key, o]));
  const recordKeys = new Set(records.map((r) => r.key));

  const undigested = new Set<string>();
  for (const r of records) {
    const hex = sha256(r.line).toString('hex');
    const entry = objects.get(r.key);
    if (!entry) {
      problems.push(problem('altered', r.key, 'the material lists no object for this record'));
    } else if (entry.sha256 !== hex) {
      problems.push(
        problem('altered', r.key, `the line hashes to ${hex}, the object read to ${entry.sha256}`),
      );
    }
    const timestamp = timestampOfLine(r.line);
    if (timestamp === undefined) {
      problems.push(problem('unparsable', r.key, 'the line is not a JSON audit record'));
    } else {
      const mismatch = timestampMismatch(r.key, timestamp);
      if (mismatch !== null) problems.push(problem('altered', r.key, mismatch));
    }
    const owner = digests.find((d) => r.key.startsWith(d.digest.prefix));
    if (!owner) {
      undigested.add(r.key.slice(0, r.key.lastIndexOf('/') + 1));
      continue;
    }
    const listed = owner.digest.objects.find((e) => e.key === r.key);
    if (!listed) {
      problems.push(problem('not_in_digest', r.key, `${owner.key} does not list this record`));
    } else if (listed.sha256 !== hex) {
      problems.push(
        problem(
          'altered',
          r.key,
          `the line hashes to ${hex}, ${owner.key} records ${listed.sha256}`,
        ),
      );
    }
  }
  for (const prefix of [...undigested].sort(byKey)) {
    notes.push(`No digest in the material covers ${prefix}: its records are not proven by one.`);
  }

  const hourOf = (key: string, d: { hour: number }) => stampOfAuditKey(key) ?? d.hour;
  for (const d of digests) {
    for (const e of d.digest.objects) {
      const t = hourOf(e.key, d);
      if (t >= since && t < until && !recordKeys.has(e.key)) {
        problems.push(
          problem(
            'missing',
            e.key,
            `${d.key} lists this record of the window, but the records do not include it`,
            requestIdOfAuditKey(e.key),
          ),
        );
      }
    }
  }

  const firstHour = hourFloor(since);
  for (const d of digests) {
    if (d.hour < firstHour) continue; // the digest before the window: only its bytes are used
    const before = byHour.get(d.hour - HOUR_MS);
    const issue = chainProblem(
      d.digest,
      before?.key ?? digestKeyLike(d.key, d.hour - HOUR_MS),
      before?.body,
      'is not in the material',
    );
    if (issue === 'start') {
      notes.push(
        `The digest chain starts at ${iso(d.hour)}: no digest proves the hours before it.`,
      );
    } else if (issue !== null) {
      problems.push(problem('digest_chain_broken', d.key, issue));
    }
  }

  // Every hour of the window due a digest by the time the pack was made has one in the material.
  const digestedHours = new Set(material.digests.map((d) => hourOfKeyText(d.key)));
  const like = material.digests[0]?.key;
  const keyOfHour = (h: number) => (like === undefined ? digestKey(h) : digestKeyLike(like, h));
  if (madeAt === null) {
    notes.push(
      'No time of making was given for the material: an hour of the window without a digest ' +
        'is not reported, so records cut off together with their hour’s digest would not show.',
    );
  }
  for (let h = firstHour; madeAt !== null && h < until; h += HOUR_MS) {
    if (digestedHours.has(h)) continue;
    if (h + HOUR_MS + DIGEST_DUE_MS <= madeAt) {
      problems.push(
        problem(
          'no_digest',
          keyOfHour(h),
          `the hour ${iso(h)} had ended and settled when the pack was made (${asOf}), but the ` +
            'material has no digest for it: its records are not proven complete (they may have ' +
            'been cut from the pack with their digest)',
        ),
      );
    } else {
      notes.push(
        `The hour ${iso(h)} was not digested yet when the pack was made: its records are not ` +
          'proven complete.',
      );
    }
  }

  return {
    ok: problems.length === 0,
    method: 'object-lock-digests',
    checked: records.length,
    problems,
    notes,
  };
}

/** The `timestamp` member of a JSON record line (whatever its type), or undefined when the line is no JSON object. */
function timestampOfLine(line: string): unknown {
  try {
    const value: unknown = JSON.parse(line);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    return (value as { timestamp?: unknown }).timestamp ?? null;
  } catch {
    return undefined;
  }
}
