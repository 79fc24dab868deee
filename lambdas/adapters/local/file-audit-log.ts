import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { AuditRecord } from '../../core/audit';
import { canonicalJson, sha256Hex } from '../../core/hash';
import type { AuditSink } from '../../core/ports';

/**
 * The local audit log (docs/ARCHITECTURE.md, "Evidence"): JSON lines under `<dir>`, one file per UTC day, never
 * rewritten in place. Each line is the record plus `seq`, `prev_hash` and `hash`, where
 * `hash = SHA-256(prev_hash + "\n" + canonical JSON of the record and its seq)`, so that any
 * altered, inserted or removed line breaks the chain. `HEAD` names the last record, so that
 * cutting lines off the end shows too.
 *
 * Appends are group-committed: records that arrive while a write is in flight go together in
 * the next write. Each write appends the lines and `fdatasync`s them, then overwrites HEAD in
 * place (a fixed-width record) and `fdatasync`s it, and only then resolves its appends: no
 * caller is answered on a record that HEAD on disk does not cover. A crash between the two
 * syncs leaves whole lines beyond HEAD; {@link FileAuditLog.open} checks that they continue the
 * chain from HEAD's record and moves HEAD over them. A HEAD that is missing, unreadable, ahead
 * of the log or naming another record means the log was cut or replaced: open refuses it.
 */
export const GENESIS_HASH = '0'.repeat(64);

export interface ChainedRecord extends AuditRecord {
  seq: number;
  prev_hash: string;
  hash: string;
}

export function chainHash(prevHash: string, record: AuditRecord & { seq: number }): string {
  return sha256Hex(`${prevHash}\n${canonicalJson(record)}`);
}

export function auditFileName(timestamp: string): string {
  return `audit-${timestamp.slice(0, 10)}.jsonl`;
}

// ---- HEAD: its format, and the one rule that ties it to the log -------------------------------

export const HEAD_FILE = 'HEAD';

/** HEAD on disk: `{"seq":n,"hash":"…"}` padded with spaces to this many bytes, newline last. */
const HEAD_BYTES = 128;

/** The last record of the log, as HEAD names it (seq 0 and the genesis hash: no record yet). */
export interface Head {
  seq: number;
  hash: string;
}

export type HeadRead = { kind: 'absent' } | { kind: 'bad' } | { kind: 'ok'; head: Head };

/** Reads `<dir>/HEAD` (either width: the fixed one, or the unpadded one older versions wrote). */
export async function readHead(dir: string): Promise<HeadRead> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dir, HEAD_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    throw err;
  }
  try {
    const head = JSON.parse(text) as { seq?: unknown; hash?: unknown };
    if (
      Number.isSafeInteger(head.seq) &&
      (head.seq as number) >= 0 &&
      typeof head.hash === 'string'
    ) {
      return { kind: 'ok', head: { seq: head.seq as number, hash: head.hash } };
    }
  } catch {
    // An unparsable HEAD, below.
  }
  return { kind: 'bad' };
}

/**
 * How HEAD stands against the log. `ok`: HEAD names the log's last record with its hash (or the
 * log is empty and HEAD, if any, names no record). `behind`: HEAD names an earlier record, so
 * the records after it are not covered (a crash between the lines' sync and HEAD's, or an older
 * HEAD put back). `missing`: no HEAD while the log has records (the writer creates HEAD before
 * the first record, so it was deleted). `ahead`: HEAD names a record past the end (lines were
 * cut off). `mismatch`: the record HEAD names has another hash (the log was replaced).
 */
export type HeadVerdict =
  | { kind: 'ok' }
  | { kind: 'unparsable' }
  | { kind: 'missing'; last: number }
  | { kind: 'behind'; head: Head; last: number }
  | { kind: 'ahead'; head: Head; last: number }
  | { kind: 'mismatch'; head: Head };

/**
 * The one rule of HEAD against the log, for the writer's open and for every verifier.
 * `last` is the log's last record (null when it has none); `hashOf(seq)` the hash of the record
 * with that seq, or undefined when the log does not hold it.
 */
export function judgeHead(
  read: HeadRead,
  last: Head | null,
  hashOf: (seq: number) => string | undefined,
): HeadVerdict {
  const lastSeq = last?.seq ?? 0;
  if (read.kind === 'bad') return { kind: 'unparsable' };
  if (read.kind === 'absent') {
    return lastSeq === 0 ? { kind: 'ok' } : { kind: 'missing', last: lastSeq };
  }
  const head = read.head;
  if (head.seq > lastSeq) return { kind: 'ahead', head, last: lastSeq };
  const named = head.seq === 0 ? GENESIS_HASH : hashOf(head.seq);
  if (named !== undefined && named !== head.hash) return { kind: 'mismatch', head };
  if (head.seq < lastSeq) return { kind: 'behind', head, last: lastSeq };
  return { kind: 'ok' };
}

/** What a verdict other than `ok` means, in words (callers add what to do). */
export function describeHead(verdict: Exclude<HeadVerdict, { kind: 'ok' }>): string {
  switch (verdict.kind) {
    case 'unparsable':
      return 'HEAD is not {"seq": n, "hash": "..."}: it was damaged or replaced';
    case 'missing':
      return `there is no HEAD file, but the log has records (the last is record ${verdict.last}): HEAD was deleted (the gateway writes it before the first record), so records cut off the end cannot be detected`;
    case 'behind': {
      const n = verdict.last - verdict.head.seq;
      return `HEAD names record ${verdict.head.seq} but the log goes on to record ${verdict.last}: ${n === 1 ? 'the record' : `the ${n} records`} after HEAD ${n === 1 ? 'is' : 'are'} not covered by it, so cutting ${n === 1 ? 'it' : 'them'} off would go unnoticed`;
    }
    case 'ahead':
      return `HEAD names record ${verdict.head.seq} but the log ends at ${verdict.last === 0 ? 'no record' : `record ${verdict.last}`}: records were cut off the end`;
    case 'mismatch':
      return `HEAD does not match record ${verdict.head.seq}: the log was replaced from that record or before`;
  }
}

/** Thrown by {@link FileAuditLog.open} when HEAD shows the log was cut or replaced. */
export class AuditLogRefused extends Error {
  constructor(
    readonly dir: string,
    what: string,
  ) {
    super(
      [
        `The audit log in ${dir} cannot be continued: ${what}.`,
        'The gateway will not write over it. What to do:',
        `  1. Run: npm run audit:verify -- --dir ${dir}   (it names every broken record)`,
        `  2. Keep ${dir} exactly as it is, as evidence: copy it somewhere safe; do not edit it.`,
        `  3. To start a new log, move the directory aside (mv ${dir} ${dir}.broken-${new Date().toISOString().slice(0, 10)}) and start again: the gateway begins a new chain.`,
      ].join('\n'),
    );
    this.name = 'AuditLogRefused';
  }
}

// ---- the log ---------------------------------------------------------------------------------

interface Pending {
  record: AuditRecord;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class FileAuditLog implements AuditSink {
  private seq = 0;
  private lastHash = GENESIS_HASH;
  private queue: Pending[] = [];
  private writing: Promise<void> | null = null;
  private closed = false;
  /** Files only move forward, so the chain reads in file-name order even if the clock steps back. */
  private currentFile = '';
  /** The open file being appended to, and its size (to cut back a failed write). */
  private open: { name: string; handle: fs.FileHandle; size: number } | null = null;
  /** HEAD, kept open and overwritten in place with each commit. */
  private head: fs.FileHandle | null = null;
  /** The seq HEAD on disk names (synced). */
  private headOnDisk = 0;
  /** The last HEAD move in flight (each waits for the one before: HEAD only moves forward). */
  private headMoves: Promise<void> = Promise.resolve();
  /**
   * What open recovered after a crash: HEAD was at record `from`, whole records continuing the
   * chain from it ran to `to`, and HEAD was moved there. Null when HEAD named the last record.
   */
  recovered: { from: number; to: number } | null = null;

  private constructor(private readonly dir: string) {}

  /**
   * Opens the log in `dir`, continuing the chain where the newest file ends, after checking HEAD
   * against it (see the class comment). Throws {@link AuditLogRefused} for a log that was cut or
   * replaced, without touching it.
   */
  static async open(dir: string): Promise<FileAuditLog> {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const log = new FileAuditLog(dir);
    const files = await listAuditFiles(dir);
    const { last, torn } = await readLastRecord(dir, files);
    const read = await readHead(dir);
    const tail =
      read.kind === 'ok' && last && read.head.seq < last.seq
        ? await readTail(dir, files, read.head.seq)
        : [];
    const verdict = judgeHead(read, last, (seq) =>
      seq === last?.seq ? last.hash : tail.find((t) => t.entry?.seq === seq)?.entry?.hash,
    );
    if (verdict.kind === 'behind') {
      checkContinues(dir, tail, verdict.head);
      log.recovered = { from: verdict.head.seq, to: verdict.last };
    } else if (verdict.kind !== 'ok') {
      throw new AuditLogRefused(dir, describeHead(verdict));
    }
    // Only now is anything changed: a line torn by a crash was never answered, so it goes.
    for (const t of torn) await fs.truncate(path.join(dir, t.file), t.bytes);
    if (last) {
      log.seq = last.seq;
      log.lastHash = last.hash;
      log.currentFile = last.file;
    }
    // HEAD is (re)written whole once, at the fixed width, then overwritten in place.
    await replaceHead(dir, { seq: log.seq, hash: log.lastHash });
    log.headOnDisk = log.seq;
    log.head = await fs.open(path.join(dir, HEAD_FILE), 'r+');
    return log;
  }

  append(record: AuditRecord): Promise<void> {
    if (this.closed) return Promise.reject(new Error('audit log is closed'));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      if (!this.writing) this.writing = this.drain();
    });
  }

  /** Waits for every queued record to be written, then refuses new ones. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.writing) await this.writing;
    await this.headMoves;
    try {
      // A HEAD write that failed is tried once more, so a clean stop leaves HEAD whole.
      if (this.headOnDisk < this.seq) await this.moveHead();
    } finally {
      await this.open?.handle.close();
      this.open = null;
      await this.head?.close();
      this.head = null;
    }
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      const written: Pending[] = [];
      // One write per file: a batch that spans midnight fails each day's part on its own.
      for (const part of this.splitByFile(batch)) {
        try {
          await this.writePart(
            part.file,
            part.pending.map((p) => p.record),
          );
          written.push(...part.pending);
        } catch (err) {
          for (const p of part.pending) p.reject(err);
        }
      }
      if (written.length === 0) continue;
      // HEAD moves over the batch (its lines are on disk now) before anyone is answered on it:
      // one more sync per batch, in flight while the next batch's lines are written. A move
      // whose batch an earlier move already covered has nothing to do.
      const seq = this.seq;
      this.headMoves = this.headMoves
        .then(() => (this.headOnDisk >= seq ? undefined : this.moveHead()))
        .then(
          () => {
            for (const p of written) p.resolve();
          },
          (err: unknown) => {
            // The lines are on disk, HEAD is not: their callers are told the write failed. The
            // next commit (or close) writes HEAD again; after a crash, open recovers over them.
            for (const p of written) p.reject(err);
          },
        );
    }
    this.writing = null;
  }

  /**
   * Overwrites HEAD in place with the chain's end and syncs it. The chain's end only moves once
   * its lines are on disk, so HEAD never names a record that is not.
   */
  private async moveHead(): Promise<void> {
    const handle = this.head;
    if (!handle) throw new Error('audit log HEAD is not open');
    const head = { seq: this.seq, hash: this.lastHash };
    const bytes = headBytes(head);
    const { bytesWritten } = await handle.write(bytes, 0, bytes.length, 0);
    if (bytesWritten !== bytes.length) throw new Error('audit log HEAD was written short');
    await handle.datasync();
    this.headOnDisk = Math.max(this.headOnDisk, head.seq);
  }

  /** Groups queued records by the file they go to; files only move forward. */
  private splitByFile(batch: Pending[]): { file: string; pending: Pending[] }[] {
    const parts: { file: string; pending: Pending[] }[] = [];
    let current = this.currentFile;
    for (const p of batch) {
      const named = auditFileName(p.record.timestamp);
      // biome-ignore lint/complexity/useMathMinMax: file names are strings; Math.max would coerce
      current = named > current ? named : current;
      const last = parts[parts.length - 1];
      if (last && last.file === current) last.pending.push(p);
      else parts.push({ file: current, pending: [p] });
    }
    return parts;
  }

  /** Appends and syncs; on failure, cuts the file back so no partial line is left behind. */
  private async appendDurably(name: string, data: string): Promise<void> {
    if (this.open?.name !== name) {
      await this.open?.handle.close();
      this.open = null;
      const handle = await fs.open(path.join(this.dir, name), 'a', 0o600);
      const size = (await handle.stat()).size;
      // A new day's file: its name must survive a crash as surely as its lines.
      if (size === 0) await syncDir(this.dir);
      this.open = { name, handle, size };
    }
    const file = this.open;
    try {
      await file.handle.appendFile(data, 'utf8');
      await file.handle.datasync();
      file.size += Buffer.byteLength(data);
    } catch (err) {
      await file.handle.truncate(file.size).catch(() => undefined);
      throw err;
    }
  }

  private async writePart(file: string, records: AuditRecord[]): Promise<void> {
    let seq = this.seq;
    let prev = this.lastHash;
    const lines: string[] = [];
    for (const record of records) {
      seq += 1;
      const withSeq = { ...record, seq };
      const hash = chainHash(prev, withSeq);
      lines.push(JSON.stringify({ ...withSeq, prev_hash: prev, hash }));
      prev = hash;
    }
    await this.appendDurably(file, `${lines.join('\n')}\n`);
    // The chain moves on only once the lines are on disk.
    this.currentFile = file;
    this.seq = seq;
    this.lastHash = prev;
  }
}

function headBytes(head: Head): Buffer {
  const json = JSON.stringify({ seq: head.seq, hash: head.hash });
  return Buffer.from(`${json.padEnd(HEAD_BYTES - 1, ' ')}\n`, 'utf8');
}

/** Writes HEAD whole: a synced temporary file renamed over it, and the directory synced. */
async function replaceHead(dir: string, head: Head): Promise<void> {
  const tmp = path.join(dir, `.HEAD.${process.pid}.tmp`);
  const handle = await fs.open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(headBytes(head));
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await fs.rename(tmp, path.join(dir, HEAD_FILE));
  await syncDir(dir);
}

/** Makes a directory's entries durable (a no-op where directories cannot be opened). */
async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function listAuditFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names.filter((n) => /^audit-\d{4}-\d{2}-\d{2}\.jsonl$/.test(n)).sort();
}

interface TailLine {
  file: string;
  /** 1-based line number in `file`. */
  line: number;
  text: string;
  entry: ChainedRecord | null;
}

function parseLine(text: string): ChainedRecord | null {
  try {
    const v = JSON.parse(text) as Partial<ChainedRecord> | null;
    if (
      v !== null &&
      typeof v === 'object' &&
      Number.isSafeInteger(v.seq) &&
      (v.seq as number) >= 1 &&
      typeof v.hash === 'string' &&
      typeof v.prev_hash === 'string'
    ) {
      return v as ChainedRecord;
    }
  } catch {
    // Not a chained record.
  }
  return null;
}

/** The whole lines of a file's text, and where a line torn by a crash starts (if one is). */
function wholeLines(text: string): { lines: { text: string; line: number }[]; end: number } {
  const end = text.endsWith('\n') ? text.length : text.lastIndexOf('\n') + 1;
  const lines: { text: string; line: number }[] = [];
  text
    .slice(0, end)
    .split('\n')
    .forEach((t, i) => {
      if (t.trim().length > 0) lines.push({ text: t, line: i + 1 });
    });
  return { lines, end };
}

/**
 * The log's last whole record, and the torn lines to cut off once the log may be continued: a
 * line cut short by a crash during its write never resolved its append (no caller was answered
 * on it), so the chain goes on from the last whole line.
 */
async function readLastRecord(
  dir: string,
  files: string[],
): Promise<{
  last: (ChainedRecord & { file: string }) | null;
  torn: { file: string; bytes: number }[];
}> {
  const torn: { file: string; bytes: number }[] = [];
  for (let i = files.length - 1; i >= 0; i -= 1) {
    const name = files[i];
    if (!name) continue;
    const text = await fs.readFile(path.join(dir, name), 'utf8');
    const { lines, end } = wholeLines(text);
    if (end < text.length) torn.push({ file: name, bytes: Buffer.byteLength(text.slice(0, end)) });
    const last = lines[lines.length - 1];
    if (!last) continue;
    const entry = parseLine(last.text);
    if (!entry) {
      throw new AuditLogRefused(
        dir,
        `its last line (${name}:${last.line}) is not a chained audit record: it was altered or replaced`,
      );
    }
    return { last: { ...entry, file: name }, torn };
  }
  return { last: null, torn };
}

/** The lines of the newest files, back to the one holding record `fromSeq` (all for 0). */
async function readTail(dir: string, files: string[], fromSeq: number): Promise<TailLine[]> {
  const out: TailLine[] = [];
  for (let i = files.length - 1; i >= 0; i -= 1) {
    const name = files[i];
    if (!name) continue;
    const { lines } = wholeLines(await fs.readFile(path.join(dir, name), 'utf8'));
    const parsed = lines.map((l) => ({ ...l, file: name, entry: parseLine(l.text) }));
    out.unshift(...parsed);
    const first = parsed.find((l) => l.entry)?.entry;
    if (fromSeq > 0 && first && first.seq <= fromSeq) break;
  }
  return out;
}

/**
 * Crash recovery's check: the lines after HEAD's record are whole chained records that go on
 * from it (seq one more each time, each `prev_hash` the hash before, each hash recomputing).
 * Throws {@link AuditLogRefused} otherwise.
 */
function checkContinues(dir: string, tail: TailLine[], head: Head): void {
  const start = head.seq === 0 ? -1 : tail.findIndex((t) => t.entry?.seq === head.seq);
  if (head.seq > 0 && start === -1) {
    throw new AuditLogRefused(
      dir,
      `HEAD names record ${head.seq}, which is not in the log: records were removed`,
    );
  }
  let seq = head.seq;
  let prev = head.hash;
  for (const t of tail.slice(start + 1)) {
    const at = `${t.file}:${t.line}`;
    const e = t.entry;
    let why: string | null = null;
    if (!e) why = 'it is not a chained audit record';
    else if (e.seq !== seq + 1) why = `its seq is ${e.seq}, not ${seq + 1}`;
    else if (e.prev_hash !== prev) why = `its prev_hash is not the hash of record ${seq}`;
    else {
      const { hash, prev_hash, ...rest } = e;
      if (chainHash(prev_hash, rest) !== hash) why = 'its hash does not match the record';
    }
    if (why !== null) {
      throw new AuditLogRefused(
        dir,
        `HEAD names record ${head.seq} and the log goes on past it, but record ${e?.seq ?? seq + 1} (${at}) does not continue the chain from HEAD (${why}): the lines after HEAD were altered or planted`,
      );
    }
    seq = e?.seq ?? seq + 1;
    prev = e?.hash ?? prev;
  }
}
