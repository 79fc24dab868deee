import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { AuditRecord } from '../../core/audit';
import { AirlockError } from '../../core/errors';
import type { IntegrityProblem, IntegrityResult, StoredRecord } from '../../core/evidence/types';
import {
  type ChainedRecord,
  chainHash,
  describeHead,
  GENESIS_HASH,
  type HeadRead,
  type HeadVerdict,
  judgeHead,
  listAuditFiles,
  readHead,
} from './file-audit-log';

/** A problem of the local chain, located in the log. */
export interface ChainProblem {
  kind: IntegrityProblem['kind'];
  file: string;
  line: number;
  seq: number | null;
  reason: string;
  request_id?: string;
}

/** The whole local log's verdict (`npm run audit:verify`). */
export interface VerifyResult {
  ok: boolean;
  /** How many lines were checked. */
  records: number;
  files: number;
  /** The first problem found, naming the file, line and seq. */
  problem?: ChainProblem;
  /** Every problem found, in log order (at most {@link MAX_PROBLEMS}). */
  problems: ChainProblem[];
  /**
   * What was let through with {@link VerifyOptions.allowStaleHead} (a missing or lagging HEAD),
   * each starting `WARNING:`. Absent when there is none.
   */
  warnings?: string[];
}

export interface VerifyOptions {
  /**
   * Turns a missing HEAD, or one behind the last record, into a warning instead of a problem
   * (`--allow-stale-head`). Records cut off the end (HEAD ahead) and a HEAD that names a record
   * with another hash are never waived.
   */
  allowStaleHead?: boolean;
}

/**
 * What proves a local window's segment against the whole log: the hash it hangs from, its first
 * seq and last hash, and HEAD when the window was taken. A third party holding the segment can
 * re-verify it alone; whoever holds the log can check that it hangs where it says.
 */
export interface ChainMaterial {
  kind: 'hash-chain';
  /** The first line's `prev_hash` (the hash of the record before the segment). */
  first_prev_hash: string;
  first_seq: number | null;
  last_hash: string | null;
  head: { seq: number; hash: string } | null;
}

/** Past this many, problems are counted in a note, not listed: a wrecked log is wrecked. */
export const MAX_PROBLEMS = 100;

interface SourceLine {
  text: string;
  file: string;
  /** 1-based line number in `file`. */
  line: number;
}

interface CheckedLine extends SourceLine {
  /** The parsed record, or null when the line is not a chained record. */
  entry: ChainedRecord | null;
}

interface ChainCheck {
  lines: CheckedLine[];
  problems: ChainProblem[];
  /** Problems found beyond {@link MAX_PROBLEMS}. */
  unlisted: number;
  last: { seq: number; hash: string } | null;
}

/**
 * Checks a run of chained lines: each parses, `seq` counts up by one, each `prev_hash` is the
 * hash before it and each `hash` recomputes. It does not stop at a problem: after one it
 * re-anchors on the line's own seq and hash, so that every later problem is found too.
 * `anchor` is where the run must start (the whole log starts at genesis); without one, the
 * first line's own `seq` and `prev_hash` are the anchor.
 */
function checkChain(
  source: SourceLine[],
  anchor: { seq: number; prev: string } | null,
): ChainCheck {
  const out: ChainCheck = { lines: [], problems: [], unlisted: 0, last: null };
  let expectedSeq: number | null = anchor?.seq ?? null;
  let prev: string | null = anchor?.prev ?? null;
  // A broken line already explains why the next line's link does not hold.
  let prevBroken = false;
  let prevWhere = '';
  const report = (
    at: SourceLine,
    seq: number | null,
    p: Omit<ChainProblem, 'file' | 'line' | 'seq'>,
  ) => {
    if (out.problems.length >= MAX_PROBLEMS) out.unlisted += 1;
    else out.problems.push({ ...p, file: at.file, line: at.line, seq });
  };
  for (const at of source) {
    const parsed = parseChained(at.text);
    if (!parsed.entry) {
      out.lines.push({ ...at, entry: null });
      report(at, parsed.seq, { kind: 'unparsable', reason: parsed.reason });
      expectedSeq = parsed.seq === null ? null : parsed.seq + 1;
      prev = null;
      prevBroken = true;
      prevWhere = `${at.file}:${at.line}`;
      continue;
    }
    const entry = parsed.entry;
    out.lines.push({ ...at, entry });
    const ids = { request_id: entry.request_id };
    let explained = prevBroken;
    if (expectedSeq !== null && entry.seq !== expectedSeq) {
      explained = true;
      if (entry.seq > expectedSeq) {
        const gap = entry.seq - expectedSeq;
        report(at, entry.seq, {
          kind: 'missing',
          reason: `expected seq ${expectedSeq}, found ${entry.seq}: ${gap === 1 ? 'a record is' : `${gap} records are`} missing before this line (removed)`,
          ...ids,
        });
      } else {
        report(at, entry.seq, {
          kind: 'altered',
          reason: `expected seq ${expectedSeq}, found ${entry.seq}: a record was inserted, repeated or moved`,
          ...ids,
        });
      }
    }
    const { hash, prev_hash, ...rest } = entry;
    const whole = chainHash(prev_hash, rest) === hash;
    if (!whole) {
      report(at, entry.seq, {
        kind: 'altered',
        reason: 'the hash does not match the record: this record was altered',
        ...ids,
      });
    } else if (prev !== null && prev_hash !== prev && !explained) {
      report(at, entry.seq, {
        kind: 'altered',
        reason: `prev_hash does not match the record before it (${prevWhere}): that record was altered and its hash recomputed, or this one's prev_hash was`,
        ...ids,
      });
    }
    expectedSeq = entry.seq + 1;
    prev = hash;
    prevBroken = !whole;
    prevWhere = `${at.file}:${at.line}`;
    out.last = { seq: entry.seq, hash };
  }
  return out;
}

function parseChained(
  text: string,
): { entry: ChainedRecord; seq: number } | { entry: null; seq: number | null; reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { entry: null, seq: null, reason: 'the line is not valid JSON' };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { entry: null, seq: null, reason: 'the line is not a JSON object' };
  }
  const v = value as Record<string, unknown>;
  const seq = Number.isSafeInteger(v.seq) && (v.seq as number) >= 1 ? (v.seq as number) : null;
  const missing = [
    seq === null ? 'seq' : null,
    typeof v.prev_hash === 'string' ? null : 'prev_hash',
    typeof v.hash === 'string' ? null : 'hash',
    typeof v.timestamp === 'string' ? null : 'timestamp',
    typeof v.request_id === 'string' ? null : 'request_id',
  ].filter((m): m is string => m !== null);
  if (missing.length > 0 || seq === null) {
    return {
      entry: null,
      seq,
      reason: `not a chained audit record (no valid ${missing.join(', ')})`,
    };
  }
  // The line must be the record exactly as the gateway writes it: a repeated member (which a
  // first-wins reader would see differently), padding or other line ends are edits.
  if (JSON.stringify(value) !== text) {
    return {
      entry: null,
      seq,
      reason:
        'the line is not the record as the gateway writes it (a repeated member, spaces or other line ends were added)',
    };
  }
  return { entry: value as ChainedRecord, seq };
}

async function readSource(
  dir: string,
): Promise<{ files: string[]; lines: SourceLine[]; tornTail: boolean }> {
  const files = await listAuditFiles(dir);
  const lines: SourceLine[] = [];
  let tornTail = false;
  for (const file of files) {
    const text = await fs.readFile(path.join(dir, file), 'utf8');
    tornTail = text.length > 0 && !text.endsWith('\n');
    const parts = text.split('\n');
    if (parts[parts.length - 1] === '') parts.pop();
    // Every line counts, blank ones too: the gateway writes none.
    parts.forEach((line, i) => {
      lines.push({ text: line, file, line: i + 1 });
    });
  }
  return { files, lines, tornTail };
}

/** The seq of a line, or null when it has none. */
function seqOf(line: SourceLine | undefined): number | null {
  if (!line) return null;
  try {
    const seq = (JSON.parse(line.text) as { seq?: unknown }).seq;
    return Number.isSafeInteger(seq) ? (seq as number) : null;
  } catch {
    return null;
  }
}

/** Waits between re-reads of a log that is being written (about 1.3 s in all). */
const SETTLE_DELAYS_MS = [10, 20, 40, 80, 160, 320, 640];

/**
 * HEAD and the lines, read so that a running gateway's log is seen whole. HEAD is read first:
 * the writer moves HEAD only once the lines it covers are on disk, so lines read after it reach
 * at least as far, and HEAD ahead of them is always a cut. A live writer's HEAD lags its newest
 * lines for the time of one sync, and a line may be caught mid-write: then both are read again,
 * a few times, before a lagging HEAD or a torn last line is reported.
 */
async function readSnapshot(
  dir: string,
): Promise<{ files: string[]; lines: SourceLine[]; head: HeadRead }> {
  for (let attempt = 0; ; attempt += 1) {
    const head = await readHead(dir);
    const { files, lines, tornTail } = await readSource(dir);
    const lastSeq = seqOf(lines[lines.length - 1]);
    const settled =
      !tornTail &&
      (head.kind === 'absent' ||
        (head.kind === 'ok' && (lastSeq === null || lastSeq <= head.head.seq)));
    const delay = SETTLE_DELAYS_MS[attempt];
    if (settled || delay === undefined) return { files, lines, head };
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

const WAIVE = 'To check the chain as it is anyway, pass --allow-stale-head.';

/** What HEAD's verdict means for a verifier: a problem, a warning (when waived) or nothing. */
function headFinding(
  verdict: HeadVerdict,
  options: VerifyOptions,
): { problem: Omit<ChainProblem, 'file' | 'line'> } | { warning: string } | null {
  if (verdict.kind === 'ok') return null;
  const what = describeHead(verdict);
  if (verdict.kind === 'missing' || verdict.kind === 'behind') {
    if (options.allowStaleHead) {
      return {
        warning: `WARNING: ${what}. Let through only because --allow-stale-head was given: the chain is checked as it is, but records cut off its end would not show. Find out why HEAD is stale before trusting this log.`,
      };
    }
    const todo =
      verdict.kind === 'behind'
        ? `If the gateway crashed, start it once (npm start): it checks the records after HEAD and moves HEAD to the last one; then verify again. Otherwise HEAD was replaced with an older one: treat the log as tampered with and keep the directory as evidence. ${WAIVE}`
        : `Treat the log as tampered with and keep the directory as evidence. ${WAIVE}`;
    return {
      problem: {
        kind: verdict.kind === 'missing' ? 'missing' : 'altered',
        seq: verdict.kind === 'behind' ? verdict.head.seq : null,
        reason: `${what}. ${todo}`,
      },
    };
  }
  const never =
    'Treat the log as tampered with and keep the directory as evidence (--allow-stale-head does not waive this).';
  return {
    problem: {
      kind:
        verdict.kind === 'ahead'
          ? 'truncated'
          : verdict.kind === 'mismatch'
            ? 'altered'
            : 'unparsable',
      seq: verdict.kind === 'unparsable' ? null : verdict.head.seq,
      reason: `${what}. ${never}`,
    },
  };
}

/**
 * The whole chain's check, HEAD included, by the rule of {@link judgeHead}: HEAD names the last
 * record with its hash. A HEAD that is ahead of the log, unreadable or names a record with
 * another hash is a problem; so is a missing HEAD (while there are records) or one behind the
 * last record, unless `allowStaleHead` makes them warnings.
 */
async function checkLog(
  dir: string,
  options: VerifyOptions,
): Promise<{
  files: string[];
  check: ChainCheck;
  head: HeadRead;
  notes: string[];
  warnings: string[];
}> {
  const { files, lines, head } = await readSnapshot(dir);
  const check = checkChain(lines, { seq: 1, prev: GENESIS_HASH });
  const notes: string[] = [];
  const warnings: string[] = [];
  const byseq = new Map<number, string>();
  for (const l of check.lines) if (l.entry) byseq.set(l.entry.seq, l.entry.hash);
  const finding = headFinding(
    judgeHead(head, check.last, (seq) => byseq.get(seq)),
    options,
  );
  if (finding && 'warning' in finding) warnings.push(finding.warning);
  else if (finding) {
    if (check.problems.length >= MAX_PROBLEMS) check.unlisted += 1;
    else check.problems.push({ ...finding.problem, file: 'HEAD', line: 1 });
  }
  if (check.unlisted > 0) {
    notes.push(
      `${check.unlisted} more problem(s) were found and not listed (at most ${MAX_PROBLEMS} are).`,
    );
  }
  return { files, check, head, notes, warnings };
}

function toIntegrity(check: ChainCheck, notes: string[]): IntegrityResult {
  return {
    ok: check.problems.length === 0,
    method: 'hash-chain',
    checked: check.lines.length,
    problems: check.problems.map((p) => ({
      kind: p.kind,
      where: `${p.file}:${p.line}`,
      detail: p.seq === null ? p.reason : `seq ${p.seq}: ${p.reason}`,
      ...(p.request_id ? { request_id: p.request_id } : {}),
    })),
    notes,
  };
}

/**
 * Proves the local audit chain whole: every line parses, `seq` counts up from 1 with no gap,
 * each `prev_hash` is the hash before it, each `hash` recomputes, and HEAD names the last
 * record with its hash (see {@link checkLog}). Every problem is listed (up to
 * {@link MAX_PROBLEMS}), not just the first.
 */
export async function verifyAuditLog(
  dir: string,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  const { files, check, warnings } = await checkLog(dir, options);
  const result: VerifyResult = {
    ok: check.problems.length === 0,
    records: check.lines.length,
    files: files.length,
    problems: check.problems,
  };
  if (check.problems[0]) result.problem = check.problems[0];
  if (warnings.length > 0) result.warnings = warnings;
  return result;
}

function parseInstant(name: string, value: string): number {
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) {
    throw new AirlockError(
      'validation_failed',
      `${name} "${value.slice(0, 40)}" is not an ISO 8601 time.`,
    );
  }
  return ms;
}

/**
 * Verifies the whole local chain and takes out a time window of it: the contiguous run of
 * chained lines from the first stamped at or after `since` to the last stamped before `until`
 * (contiguous in seq, so the segment can be re-verified on its own), the records before it
 * (context for the report) and the material that ties the segment to the log.
 */
export async function verifyLocalWindow(
  dir: string,
  window: { since: string; until: string },
  options: VerifyOptions = {},
): Promise<{
  integrity: IntegrityResult;
  records: StoredRecord[];
  context: AuditRecord[];
  material: ChainMaterial;
  /** As {@link VerifyResult.warnings}; also the first notes of `integrity`. */
  warnings: string[];
}> {
  const since = parseInstant('since', window.since);
  const until = parseInstant('until', window.until);
  const { check, head, notes, warnings } = await checkLog(dir, options);
  const chained = check.lines.filter(
    (l): l is CheckedLine & { entry: ChainedRecord } => l.entry !== null,
  );
  const stamp = (l: { entry: ChainedRecord }) => Date.parse(l.entry.timestamp);
  const first = chained.findIndex((l) => stamp(l) >= since);
  let last = -1;
  for (let i = chained.length - 1; i >= 0; i -= 1) {
    const l = chained[i];
    if (l && stamp(l) < until) {
      last = i;
      break;
    }
  }
  const start = first === -1 ? chained.length : first;
  const segment = first !== -1 && last >= first ? chained.slice(first, last + 1) : [];
  const before = chained.slice(0, start);
  const anchor =
    segment[0]?.entry.prev_hash ?? before[before.length - 1]?.entry.hash ?? GENESIS_HASH;
  return {
    integrity: toIntegrity(check, [...warnings, ...notes]),
    warnings,
    records: segment.map((l) => ({ line: l.text, record: l.entry, where: `${l.file}:${l.line}` })),
    context: before.map((l) => l.entry),
    material: {
      kind: 'hash-chain',
      first_prev_hash: anchor,
      first_seq: segment[0]?.entry.seq ?? null,
      last_hash: segment[segment.length - 1]?.entry.hash ?? null,
      head: head.kind === 'ok' ? head.head : null,
    },
  };
}

/**
 * Checks a segment of the chain offline (an evidence pack's records): `seq` contiguous, each
 * `prev_hash` links to the line before, each `hash` recomputes. The first line's `prev_hash`
 * is the anchor: that the segment hangs there in the operator's log is for the log to prove.
 * `name` labels the problems' `where` (`name:line`).
 */
export function verifyChainSegment(lines: string[], name = 'segment'): IntegrityResult {
  const check = checkChain(
    lines.map((text, i) => ({ text, file: name, line: i + 1 })),
    null,
  );
  const notes = [
    lines.length === 0
      ? 'The segment is empty: no record of the window to check.'
      : 'The segment is checked on its own; that it belongs to the full log is shown by its first prev_hash and last hash against that log.',
  ];
  if (check.unlisted > 0) {
    notes.push(
      `${check.unlisted} more problem(s) were found and not listed (at most ${MAX_PROBLEMS} are).`,
    );
  }
  return toIntegrity(check, notes);
}

/** Reads every record of the log, in order (for reports and tests). */
export async function readAuditLog(dir: string): Promise<ChainedRecord[]> {
  const out: ChainedRecord[] = [];
  for (const file of await listAuditFiles(dir)) {
    for (const line of (await fs.readFile(path.join(dir, file), 'utf8')).split('\n')) {
      if (line.trim()) out.push(JSON.parse(line) as ChainedRecord);
    }
  }
  return out;
}
