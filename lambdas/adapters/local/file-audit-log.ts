import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { AuditRecord } from '../../core/audit';
import { canonicalJson, sha256Hex } from '../../core/hash';
import type { AuditSink } from '../../core/ports';

/**
 * The local audit log (DESIGN §4): JSON lines under `<dir>`, one file per UTC day, never
 * rewritten in place. Each line is the record plus `seq`, `prev_hash` and `hash`, where
 * `hash = SHA-256(prev_hash + "\n" + canonical JSON of the record and its seq)`, so that any
 * altered, inserted or removed line breaks the chain. `HEAD` names the last record, so that
 * cutting lines off the end shows too.
 *
 * Appends are group-committed: records that arrive while a write is in flight go together in
 * the next write, and every `append` resolves only after `fdatasync` has returned.
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

  private constructor(private readonly dir: string) {}

  /** Opens the log in `dir`, continuing the chain where the newest file ends. */
  static async open(dir: string): Promise<FileAuditLog> {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const log = new FileAuditLog(dir);
    const last = await readLastRecord(dir);
    if (last) {
      log.seq = last.seq;
      log.lastHash = last.hash;
      log.currentFile = last.file;
    }
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
    await this.open?.handle.close();
    this.open = null;
  }

  private async drain(): Promise<void> {
    do {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        // One write per file: a batch that spans midnight resolves each day's part on its own.
        for (const part of this.splitByFile(batch)) {
          try {
            await this.writePart(
              part.file,
              part.pending.map((p) => p.record),
            );
            for (const p of part.pending) p.resolve();
          } catch (err) {
            for (const p of part.pending) p.reject(err);
          }
        }
      }
      // HEAD moves once the queue is empty: off the path of the records waiting to be written.
      // It may lag the last line after a crash, never lead it, and the verifier allows that.
      try {
        await writeHead(this.dir, { seq: this.seq, hash: this.lastHash });
      } catch {
        // A stale HEAD only weakens the check for cut-off records; the chain itself is whole.
      }
      // Records that arrived while HEAD was written go in the next round.
    } while (this.queue.length > 0);
    this.writing = null;
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
      this.open = { name, handle, size: (await handle.stat()).size };
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

async function writeHead(dir: string, head: { seq: number; hash: string }): Promise<void> {
  const tmp = path.join(dir, `.HEAD.${process.pid}.tmp`);
  await fs.writeFile(tmp, `${JSON.stringify(head)}\n`, { mode: 0o600 });
  await fs.rename(tmp, path.join(dir, 'HEAD'));
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

async function readLastRecord(dir: string): Promise<(ChainedRecord & { file: string }) | null> {
  const files = await listAuditFiles(dir);
  for (let i = files.length - 1; i >= 0; i -= 1) {
    const name = files[i];
    if (!name) continue;
    const file = path.join(dir, name);
    const text = await fs.readFile(file, 'utf8');
    const end = text.endsWith('\n') ? text.length : text.lastIndexOf('\n') + 1;
    if (end < text.length) {
      // A line cut short by a crash during its write: its append never resolved (no caller was
      // answered on it), so it is cut off and the chain goes on from the last whole line.
      await fs.truncate(file, Buffer.byteLength(text.slice(0, end)));
    }
    const lines = text
      .slice(0, end)
      .split('\n')
      .filter((l) => l.trim().length > 0);
    const last = lines[lines.length - 1];
    if (last) return { ...(JSON.parse(last) as ChainedRecord), file: name };
  }
  return null;
}
