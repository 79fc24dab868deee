import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as z from 'zod';
import { type ChainMaterial, verifyChainSegment } from '../adapters/local/audit-verify';
import { chainHash } from '../adapters/local/file-audit-log';
import type { AuditRecord } from '../core/audit';
import { AirlockError } from '../core/errors';
import { type DigestMaterial, verifyDigestMaterial } from '../core/evidence/digest';
import {
  buildReport,
  relevantContext,
  reportText,
  type VerificationReport,
} from '../core/evidence/report';
import type { IntegrityProblem, IntegrityResult, StoredRecord } from '../core/evidence/types';

/**
 * Evidence packs: a directory a third party can check offline. The records of a window as
 * stored (byte-exact), what proves them (the chain's anchor and ends, or the S3 objects'
 * hashes and the hourly digests), the verification report, and a manifest of SHA-256 hashes
 * written last. The manifest's own hash is handed over separately.
 */
/** The `format` of a pack's manifest. */
export const PACK_FORMAT = 'crm-airlock-evidence/1';

const RECORDS = 'records.jsonl';
const CONTEXT = 'context.jsonl';
const INTEGRITY = 'integrity.json';
const REPORT_JSON = 'report.json';
const REPORT_TXT = 'report.txt';
const README = 'README.txt';
const MANIFEST = 'manifest.json';

/** What goes into a pack: the window's stored records, their proof and their report. */
export interface PackInput {
  source: 'local' | 'aws';
  since: string;
  until: string;
  records: StoredRecord[];
  material: ChainMaterial | DigestMaterial;
  report: VerificationReport;
  createdAt: string;
  /**
   * The records before the window the report was built with. The pack keeps only those the
   * report depends on ({@link relevantContext}), so the report can be rebuilt from the pack.
   */
  context?: AuditRecord[];
}

/** One file of a pack as the manifest lists it. */
export interface PackFile {
  name: string;
  sha256: string;
  bytes: number;
}

/** Where the pack was written, and the hashes to hand over with it. */
export interface WrittenPack {
  dir: string;
  /** The SHA-256 of manifest.json: hand it to the recipient by another channel. */
  manifestSha256: string;
  files: PackFile[];
}

/** The offline verdict on a pack. */
export interface PackVerification {
  ok: boolean;
  /** What is wrong with the pack, one sentence each, naming the file. */
  problems: string[];
  /** The records re-verified from the pack alone. */
  integrity: IntegrityResult;
  /** The report rebuilt from the pack's records (with `integrity` as its integrity). */
  report: VerificationReport;
}

const manifestSchema = z.strictObject({
  format: z.literal(PACK_FORMAT),
  created_at: z.string(),
  source: z.enum(['local', 'aws']),
  window: z.strictObject({ since: z.string(), until: z.string() }),
  files: z.array(
    z.strictObject({
      // A plain file name: a manifest must not point outside the pack.
      name: z.string().regex(/^[\w.-]+$/),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      bytes: z.number().int().nonnegative(),
    }),
  ),
});
type Manifest = z.infer<typeof manifestSchema>;

const sha256Hex = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

function jsonLines(lines: string[]): string {
  return lines.map((l) => `${l}\n`).join('');
}

/** Writes a new evidence pack into `outDir`, which must not exist or be empty. */
export async function writePack(outDir: string, input: PackInput): Promise<WrittenPack> {
  const dir = path.resolve(outDir);
  let existing: string[] = [];
  try {
    existing = await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (existing.length > 0) {
    throw new AirlockError(
      'validation_failed',
      `${dir} is not empty; an evidence pack goes into a new or empty directory, so nothing is overwritten or mixed in.`,
    );
  }
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode is masked by the umask, and an existing empty directory keeps its own.
  await fs.chmod(dir, 0o700);

  const context = relevantContext(
    input.records.map((r) => r.record),
    input.context ?? [],
  );
  const contents: [string, string][] = [
    [RECORDS, jsonLines(input.records.map((r) => r.line))],
    [CONTEXT, jsonLines(context.map((r) => JSON.stringify(r)))],
    [
      INTEGRITY,
      `${JSON.stringify(
        {
          source: input.source,
          material: input.material,
          record_keys: input.records.map((r) => r.where),
        },
        null,
        2,
      )}\n`,
    ],
    [REPORT_JSON, `${JSON.stringify(input.report, null, 2)}\n`],
    [REPORT_TXT, reportText(input.report)],
    [README, readme(input.source)],
  ];
  const files: PackFile[] = [];
  for (const [name, text] of contents) {
    files.push(await writeNew(dir, name, text));
  }
  const manifest: Manifest = {
    format: PACK_FORMAT,
    created_at: input.createdAt,
    source: input.source,
    window: { since: input.since, until: input.until },
    files,
  };
  const written = await writeNew(dir, MANIFEST, `${JSON.stringify(manifest, null, 2)}\n`);
  return { dir, manifestSha256: written.sha256, files };
}

async function writeNew(dir: string, name: string, text: string): Promise<PackFile> {
  const data = Buffer.from(text, 'utf8');
  // `wx`: never through a file (or link) that appeared meanwhile.
  await fs.writeFile(path.join(dir, name), data, { mode: 0o600, flag: 'wx' });
  return { name, sha256: sha256Hex(data), bytes: data.length };
}

/** Splits a JSON-lines file: every line newline-terminated, none empty. */
function splitLines(text: string): string[] {
  if (text === '') return [];
  return (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n');
}

async function readOptional(file: string): Promise<Buffer | null> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Checks an evidence pack offline: every file against the manifest (a changed, missing or
 * extra file is a problem), the records against their material, and the report against the
 * report rebuilt from the records. `generated_at` and the integrity section may differ: the
 * stored report judged the operator's whole log, the pack can only judge its own records.
 */
export async function verifyPack(dir: string): Promise<PackVerification> {
  const problems: string[] = [];
  const names = (await fs.readdir(dir, { withFileTypes: true })).map((e) => ({
    name: e.name,
    file: e.isFile(),
  }));
  const read = new Map<string, Buffer>();
  for (const e of names) {
    if (e.file) {
      const data = await readOptional(path.join(dir, e.name));
      if (data) read.set(e.name, data);
    }
  }
  const text = (name: string) => read.get(name)?.toString('utf8');

  const manifestParsed = manifestSchema.safeParse(parseJson(text(MANIFEST)));
  const manifest = manifestParsed.success ? manifestParsed.data : null;
  if (!read.has(MANIFEST))
    problems.push(`${MANIFEST} is missing: nothing in the pack can be checked against it.`);
  else if (!manifest) problems.push(`${MANIFEST} is not a ${PACK_FORMAT} manifest.`);
  if (manifest) {
    const listed = new Set(manifest.files.map((f) => f.name));
    for (const f of manifest.files) {
      const data = read.get(f.name);
      if (!data) {
        problems.push(`${f.name} is missing (the manifest lists it).`);
        continue;
      }
      const actual = sha256Hex(data);
      if (actual !== f.sha256 || data.length !== f.bytes) {
        problems.push(
          `${f.name} was changed: its SHA-256 is ${actual} (${data.length} bytes), the manifest says ${f.sha256} (${f.bytes} bytes).`,
        );
      }
    }
    for (const e of names) {
      if (e.name !== MANIFEST && !listed.has(e.name)) {
        problems.push(`${e.name} is not in the manifest: it was added to the pack.`);
      }
    }
  }

  const stored = parseJson(text(REPORT_JSON)) as VerificationReport | undefined;
  if (!stored || typeof stored !== 'object')
    problems.push(`${REPORT_JSON} is missing or not JSON.`);
  const integrityFile = parseJson(text(INTEGRITY)) as
    | { source?: unknown; material?: ChainMaterial | DigestMaterial; record_keys?: unknown }
    | undefined;
  const window = manifest?.window ?? stored?.window ?? { since: '', until: '' };
  const lines = splitLines(text(RECORDS) ?? '');
  if (!read.has(RECORDS)) problems.push(`${RECORDS} is missing.`);

  const integrity = verifyRecords(lines, integrityFile, window, manifest?.created_at);
  for (const p of integrity.problems) {
    problems.push(`The records do not verify: ${p.kind} at ${p.where}: ${p.detail}`);
  }
  if (stored?.integrity && stored.integrity.ok === false) {
    integrity.notes.push(
      `When the pack was made, the operator's whole log did not verify (${stored.integrity.problems?.length ?? 0} problem(s), listed in ${REPORT_JSON}); this pack can only prove its own records.`,
    );
  }

  const { context, contextProblems } = readContext(text(CONTEXT) ?? '', integrityFile?.material);
  problems.push(...contextProblems);
  const records: AuditRecord[] = [];
  for (const line of lines) {
    const parsed = parseJson(line);
    if (parsed && typeof parsed === 'object') records.push(parsed as AuditRecord);
  }
  const report = buildReport(records, integrity, {
    since: window.since,
    until: window.until,
    generatedAt: stored?.generated_at ?? manifest?.created_at ?? '',
    context,
    bulkRecordsPerHour: numberOr(stored?.settings?.bulk_records_per_hour),
    containmentGraceMs: numberOr(stored?.settings?.containment_grace_ms),
  });
  if (stored && typeof stored === 'object') {
    const differing = differingSections(stored, report);
    if (differing.length > 0) {
      problems.push(
        `${REPORT_JSON} does not match the report rebuilt from ${RECORDS}: ${differing.join(', ')} differ.`,
      );
    } else if (text(REPORT_TXT) !== reportText(stored)) {
      problems.push(`${REPORT_TXT} is not the text of ${REPORT_JSON}.`);
    }
  }
  return { ok: problems.length === 0, problems, integrity, report };
}

function numberOr(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/**
 * Re-verifies the records with the material the pack carries, by its kind. `createdAt` (the
 * manifest's) tells which hours of the window were due a digest when the pack was made.
 */
function verifyRecords(
  lines: string[],
  file: { material?: ChainMaterial | DigestMaterial; record_keys?: unknown } | undefined,
  window: { since: string; until: string },
  createdAt: string | undefined,
): IntegrityResult {
  const material = file?.material;
  if (material?.kind === 'object-lock-digests') {
    const keys = Array.isArray(file?.record_keys) ? (file.record_keys as unknown[]) : [];
    if (keys.length !== lines.length || !keys.every((k) => typeof k === 'string')) {
      return failed('object-lock-digests', lines.length, {
        kind: 'unparsable',
        where: INTEGRITY,
        detail: `record_keys must list one S3 key per line of ${RECORDS} (${lines.length}).`,
      });
    }
    return verifyDigestMaterial(
      lines.map((line, i) => ({ key: keys[i] as string, line })),
      material,
      window,
      createdAt,
    );
  }
  if (material?.kind !== 'hash-chain') {
    return failed('hash-chain', lines.length, {
      kind: 'unparsable',
      where: INTEGRITY,
      detail: 'no hash-chain or object-lock-digests material: the records cannot be proven.',
    });
  }
  const result = verifyChainSegment(lines, RECORDS);
  // The segment must hang where the material says, and end where it says.
  const first = parseJson(lines[0]) as { seq?: unknown; prev_hash?: unknown } | undefined;
  const last = parseJson(lines[lines.length - 1]) as { hash?: unknown } | undefined;
  const ends: [boolean, string][] =
    lines.length === 0
      ? [
          [
            material.first_seq === null && material.last_hash === null,
            'the material names records but the pack has none',
          ],
        ]
      : [
          [
            first?.prev_hash === material.first_prev_hash,
            'the first record does not hang from first_prev_hash',
          ],
          [first?.seq === material.first_seq, 'the first record is not first_seq'],
          [last?.hash === material.last_hash, 'the last record does not end at last_hash'],
        ];
  for (const [holds, detail] of ends) {
    if (!holds) {
      result.problems.push({
        kind: 'altered',
        where: INTEGRITY,
        detail: `${detail}: records were cut off or replaced.`,
      });
    }
  }
  result.ok = result.problems.length === 0;
  return result;
}

function failed(
  method: IntegrityResult['method'],
  checked: number,
  problem: IntegrityProblem,
): IntegrityResult {
  return { ok: false, method, checked, problems: [problem], notes: [] };
}

/**
 * The context records the report was built with. Local ones carry their chain hash, which
 * must still recompute; their place in the chain is for the operator's log to prove.
 */
function readContext(
  text: string,
  material: ChainMaterial | DigestMaterial | undefined,
): { context: AuditRecord[]; contextProblems: string[] } {
  const context: AuditRecord[] = [];
  const contextProblems: string[] = [];
  splitLines(text).forEach((line, i) => {
    const parsed = parseJson(line) as
      | (AuditRecord & { seq?: number; prev_hash?: string; hash?: string })
      | undefined;
    if (!parsed || typeof parsed !== 'object') {
      contextProblems.push(`${CONTEXT}:${i + 1} is not a JSON audit record.`);
      return;
    }
    if (material?.kind === 'hash-chain') {
      const { hash, prev_hash, ...rest } = parsed;
      if (
        typeof hash !== 'string' ||
        typeof prev_hash !== 'string' ||
        typeof rest.seq !== 'number' ||
        chainHash(prev_hash, { ...rest, seq: rest.seq }) !== hash
      ) {
        contextProblems.push(
          `${CONTEXT}:${i + 1}: the record's chain hash does not recompute (altered).`,
        );
      }
    }
    context.push(parsed);
  });
  return { context, contextProblems };
}

/** The top-level sections of two reports that differ, apart from generated_at and integrity. */
function differingSections(stored: VerificationReport, rebuilt: VerificationReport): string[] {
  const keys = new Set([...Object.keys(stored), ...Object.keys(rebuilt)]);
  keys.delete('generated_at');
  keys.delete('integrity');
  const get = (r: VerificationReport, k: string) =>
    JSON.stringify((r as unknown as Record<string, unknown>)[k]);
  return [...keys].sort().filter((k) => get(stored, k) !== get(rebuilt, k));
}

function readme(source: 'local' | 'aws'): string {
  const common = `CRM Airlock evidence pack (${PACK_FORMAT})
================================================

This directory holds the audit records of one time window of a CRM Airlock gateway, exactly as
they were stored, with what proves them and a verification report. Nothing here needs network
access to check.

Files
${[
  [RECORDS, 'the records of the window, one per line, byte for byte as stored'],
  [CONTEXT, 'the few earlier records the report depends on (the request and approval of a'],
  ['', 'write finished in the window; a kill switch still on when the window opened)'],
  [INTEGRITY, `what proves the records (see step 3) and, per line of ${RECORDS}, where it`],
  ['', `was stored (${source === 'aws' ? 'its S3 key' : 'file:line of the local audit log'})`],
  [REPORT_JSON, 'the verification report (JSON)'],
  [REPORT_TXT, 'the same report, as text'],
  [README, 'this file'],
  [MANIFEST, 'written last: the SHA-256 and size of every file above'],
]
  .map(([name, what]) => `  ${(name ?? '').padEnd(16)}${what}`)
  .join('\n')}

Step 1. Check the manifest itself. You should have received its SHA-256 separately (by another
channel than the pack). Compare:
    sha256sum ${MANIFEST}

Step 2. Check every file against the manifest. With jq:
    jq -r '.files[] | "\\(.sha256)  \\(.name)"' ${MANIFEST} | sha256sum -c -
Without jq: run
    sha256sum ${RECORDS} ${CONTEXT} ${INTEGRITY} ${REPORT_JSON} ${REPORT_TXT} ${README}
and compare each hash with the "sha256" next to the same "name" in ${MANIFEST}. Also check the
directory holds no file other than these and ${MANIFEST}: anything else was added later.

`;
  const local = `Step 3. Check the records (a hash chain). Each line of ${RECORDS} is a JSON record with
"seq", "prev_hash" and "hash", where
    hash = SHA-256( prev_hash + "\\n" + canonical JSON of the record without prev_hash and hash )
and canonical JSON is JSON with the keys of every object sorted, no spaces. Check that:
  - each line's hash recomputes;
  - seq counts up by one from line to line, and each prev_hash is the hash of the line before;
  - the first line's prev_hash and seq are "first_prev_hash" and "first_seq" in ${INTEGRITY},
    and the last line's hash is "last_hash".
This node script does the first two checks (any recent Node, no packages needed):
    node -e '
      const c = require("crypto"), fs = require("fs");
      const sort = (v) => Array.isArray(v) ? v.map(sort) : v && typeof v === "object"
        ? Object.fromEntries(Object.keys(v).sort().filter((k) => v[k] !== undefined).map((k) => [k, sort(v[k])])) : v;
      let prev = null, seq = null, bad = 0;
      fs.readFileSync("${RECORDS}", "utf8").split("\\n").filter(Boolean).forEach((line, i) => {
        const { hash, prev_hash, ...rest } = JSON.parse(line);
        const h = c.createHash("sha256").update(prev_hash + "\\n" + JSON.stringify(sort(rest))).digest("hex");
        if (h !== hash || (prev !== null && (prev_hash !== prev || rest.seq !== seq + 1))) { bad++; console.log("line " + (i + 1) + " does not verify"); }
        prev = hash; seq = rest.seq;
      });
      console.log(bad ? "BROKEN" : "OK");'
The chain proves the records were not altered, removed or reordered within the window. That
the window hangs where it says in the operator's log is proven by that log: the record with
seq first_seq - 1 has hash first_prev_hash, and "head" in ${INTEGRITY} (the log's HEAD when the
pack was made) names a later record of the same chain. A local log is tamper-evident, not
tamper-proof: whoever could rewrite the whole log could have rebuilt a consistent chain.

`;
  const aws = `Step 3. Check the records (S3 Object Lock and hourly digests). ${INTEGRITY} holds
"material.objects" (for each S3 key: the SHA-256 of the object as read from the bucket, its
version and Object Lock retention) and "material.digests" (the hourly digest files, each
listing the key and SHA-256 of every record of its hour, and the SHA-256 of the digest before
it). Check that:
  - the SHA-256 of each line of ${RECORDS} (the line's bytes, without the newline) is the one
    the object and its hour's digest list for its key ("record_keys" gives the key per line);
  - every record a digest lists for a time inside the window is in ${RECORDS};
  - each digest's "previous" hash is the SHA-256 of the digest before it.
With S3 access you can also check that each listed object version is still under Object Lock
(COMPLIANCE mode) and that its stored checksum matches.

`;
  const tail = `Step 4. Or let the tool do steps 2 to 3 and rebuild the report from the records:
    npx airlock verify --pack <this directory>
It recomputes every hash in the manifest, re-verifies the records, rebuilds the report from
${RECORDS} and ${CONTEXT}, and compares it with ${REPORT_JSON}. Its exit code is 0 when all
holds and nothing needs a look, 1 when something does not hold, 3 when the report lists
anomalies.
`;
  return `${common}${source === 'aws' ? aws : local}${tail}`;
}
