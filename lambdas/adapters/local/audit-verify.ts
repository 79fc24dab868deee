import { promises as fs } from 'node:fs';
import path from 'node:path';
import { type ChainedRecord, chainHash, GENESIS_HASH, listAuditFiles } from './file-audit-log';

export interface VerifyResult {
  ok: boolean;
  records: number;
  files: number;
  /** The first problem found, naming the file, line and seq. */
  problem?: { file: string; line: number; seq: number | null; reason: string };
}

/**
 * Proves the local audit chain whole: every line parses, `seq` counts up from 1 with no gap,
 * each `prev_hash` is the hash before it, each `hash` recomputes, and HEAD is not ahead of
 * the last line. Stops at the first broken record.
 */
export async function verifyAuditLog(dir: string): Promise<VerifyResult> {
  const files = await listAuditFiles(dir);
  let prev = GENESIS_HASH;
  let expectedSeq = 1;
  let count = 0;
  for (const file of files) {
    const lines = (await fs.readFile(path.join(dir, file), 'utf8')).split('\n');
    for (let i = 0; i < lines.length; i += 1) {
      const line = lines[i] ?? '';
      if (line.trim() === '') continue;
      const where = { file, line: i + 1 };
      let entry: ChainedRecord;
      try {
        entry = JSON.parse(line) as ChainedRecord;
      } catch {
        return fail(count, files, { ...where, seq: null, reason: 'the line is not valid JSON' });
      }
      const { hash, prev_hash, ...rest } = entry;
      if (entry.seq !== expectedSeq) {
        return fail(count, files, {
          ...where,
          seq: entry.seq ?? null,
          reason: `expected seq ${expectedSeq}, found ${entry.seq}: a record is missing or out of order`,
        });
      }
      if (prev_hash !== prev) {
        return fail(count, files, {
          ...where,
          seq: entry.seq,
          reason:
            'prev_hash does not match the previous record: a record before it was removed or altered',
        });
      }
      if (chainHash(prev, rest) !== hash) {
        return fail(count, files, {
          ...where,
          seq: entry.seq,
          reason: 'the hash does not match the record: this record was altered',
        });
      }
      prev = hash;
      expectedSeq += 1;
      count += 1;
    }
  }
  const head = await readHead(dir);
  if (head && head.seq > count) {
    return fail(count, files, {
      file: 'HEAD',
      line: 1,
      seq: head.seq,
      reason: `HEAD names record ${head.seq} but the log ends at ${count}: records were cut off the end`,
    });
  }
  if (head && head.seq === count && head.hash !== prev) {
    return fail(count, files, {
      file: 'HEAD',
      line: 1,
      seq: head.seq,
      reason: 'HEAD does not match the last record: the end of the log was replaced',
    });
  }
  return { ok: true, records: count, files: files.length };
}

function fail(
  records: number,
  files: string[],
  problem: NonNullable<VerifyResult['problem']>,
): VerifyResult {
  return { ok: false, records, files: files.length, problem };
}

async function readHead(dir: string): Promise<{ seq: number; hash: string } | null> {
  try {
    return JSON.parse(await fs.readFile(path.join(dir, 'HEAD'), 'utf8')) as {
      seq: number;
      hash: string;
    };
  } catch {
    return null;
  }
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
