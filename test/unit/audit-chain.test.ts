import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readAuditLog, verifyAuditLog } from '../../lambdas/adapters/local/audit-verify';
import { FileAuditLog, listAuditFiles } from '../../lambdas/adapters/local/file-audit-log';
import type { AuditRecord } from '../../lambdas/core/audit';
import { chainRecord } from '../helpers/audit-records';

function record(i: number, timestamp = '2026-11-29T10:00:00.000Z'): AuditRecord {
  return chainRecord(i, timestamp);
}

describe('the hash-chained audit log', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'audit-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function writeRecords(n: number, timestamp?: (i: number) => string): Promise<void> {
    const log = await FileAuditLog.open(dir);
    await Promise.all(Array.from({ length: n }, (_, i) => log.append(record(i, timestamp?.(i)))));
    await log.close();
  }

  function lines(file: string): string[] {
    return readFileSync(path.join(dir, file), 'utf8').trimEnd().split('\n');
  }

  it('writes concurrent appends in order with a whole chain', async () => {
    await writeRecords(50);
    const records = await readAuditLog(dir);
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(records.map((r) => r.request_id)).toEqual(
      Array.from({ length: 50 }, (_, i) => `req_${i}`),
    );
    expect(await verifyAuditLog(dir)).toEqual({ ok: true, records: 50, files: 1, problems: [] });
  });

  it('writes appends that arrive while the previous batch and HEAD are being written', async () => {
    const log = await FileAuditLog.open(dir);
    const appends: Promise<void>[] = [];
    for (let i = 0; i < 40; i += 1) {
      appends.push(log.append(record(i)));
      // Stagger the arrivals across the writer's awaits (append, sync, HEAD).
      await new Promise((r) => setTimeout(r, i % 3));
    }
    await Promise.all(appends);
    await log.close();
    expect(await verifyAuditLog(dir)).toEqual({ ok: true, records: 40, files: 1, problems: [] });
  });

  it('continues the chain after a restart and across days', async () => {
    await writeRecords(3);
    await writeRecords(2, () => '2026-11-30T00:00:01.000Z');
    expect(await listAuditFiles(dir)).toEqual(['audit-2026-11-29.jsonl', 'audit-2026-11-30.jsonl']);
    expect(await verifyAuditLog(dir)).toMatchObject({ ok: true, records: 5, files: 2 });
  });

  it('cuts off a line torn by a crash and goes on from the last whole record', async () => {
    await writeRecords(3);
    const [file] = await listAuditFiles(dir);
    const full = path.join(dir, file ?? '');
    writeFileSync(full, `${readFileSync(full, 'utf8')}{"timestamp":"2026-11-29T10:0`);
    await writeRecords(2);
    expect(await verifyAuditLog(dir)).toMatchObject({ ok: true, records: 5 });
  });

  it('splits a batch that spans midnight by day, keeping one chain', async () => {
    const log = await FileAuditLog.open(dir);
    await Promise.all([
      log.append(record(1, '2026-11-29T23:59:59.999Z')),
      log.append(record(2, '2026-11-30T00:00:00.001Z')),
      // A clock that steps back never sends a record to an older file.
      log.append(record(3, '2026-11-29T23:59:59.998Z')),
    ]);
    await log.close();
    expect(await listAuditFiles(dir)).toEqual(['audit-2026-11-29.jsonl', 'audit-2026-11-30.jsonl']);
    expect(lines('audit-2026-11-30.jsonl')).toHaveLength(2);
    expect(await verifyAuditLog(dir)).toMatchObject({ ok: true, records: 3, files: 2 });
  });

  it('detects an altered record and names it', async () => {
    await writeRecords(5);
    const [file] = await listAuditFiles(dir);
    const all = lines(file ?? '');
    all[2] = (all[2] ?? '').replace('"response_status":200', '"response_status":404');
    writeFileSync(path.join(dir, file ?? ''), `${all.join('\n')}\n`);
    const result = await verifyAuditLog(dir);
    expect(result.ok).toBe(false);
    expect(result.problem).toMatchObject({ line: 3, seq: 3 });
    expect(result.problem?.reason).toMatch(/altered/);
  });

  it.each([
    [
      'a repeated member in front of the real one',
      (l: string) => `{"outcome":"tampered",${l.slice(1)}`,
    ],
    ['spaces added', (l: string) => l.replace('{', '{ ')],
    ['CRLF line ends', (l: string) => `${l}\r`],
  ])('detects a line that is not the record as written: %s', async (_what, edit) => {
    await writeRecords(4);
    const [file] = await listAuditFiles(dir);
    const all = lines(file ?? '');
    all[1] = edit(all[1] ?? '');
    writeFileSync(path.join(dir, file ?? ''), `${all.join('\n')}\n`);
    const result = await verifyAuditLog(dir);
    expect(result.ok).toBe(false);
    expect(result.problem).toMatchObject({ line: 2 });
  });

  it('detects blank lines put into the log', async () => {
    await writeRecords(3);
    const [file] = await listAuditFiles(dir);
    writeFileSync(path.join(dir, file ?? ''), `${lines(file ?? '').join('\n\n')}\n\n`);
    expect((await verifyAuditLog(dir)).ok).toBe(false);
  });

  it('detects a deleted record', async () => {
    await writeRecords(5);
    const [file] = await listAuditFiles(dir);
    const all = lines(file ?? '');
    all.splice(1, 1);
    writeFileSync(path.join(dir, file ?? ''), `${all.join('\n')}\n`);
    const result = await verifyAuditLog(dir);
    expect(result.ok).toBe(false);
    expect(result.problem).toMatchObject({ line: 2, seq: 3 });
    expect(result.problem?.reason).toMatch(/missing/);
  });

  it('detects a record whose hash was recomputed after editing (the next link breaks)', async () => {
    await writeRecords(4);
    const [file] = await listAuditFiles(dir);
    const all = lines(file ?? '');
    const entry = JSON.parse(all[1] ?? '{}');
    entry.user_id = 'someone-else';
    entry.hash = 'f'.repeat(64);
    all[1] = JSON.stringify(entry);
    writeFileSync(path.join(dir, file ?? ''), `${all.join('\n')}\n`);
    const result = await verifyAuditLog(dir);
    expect(result.problem?.seq).toBe(2);
    // The broken link to the next record is the same alteration, not a second problem.
    expect(result.problems).toHaveLength(1);
  });

  it('detects records cut off the end through HEAD', async () => {
    await writeRecords(4);
    const [file] = await listAuditFiles(dir);
    const all = lines(file ?? '');
    writeFileSync(path.join(dir, file ?? ''), `${all.slice(0, 3).join('\n')}\n`);
    const result = await verifyAuditLog(dir);
    expect(result.ok).toBe(false);
    expect(result.problem?.reason).toMatch(/cut off/);
  });

  it('refuses appends after close, so nothing is silently dropped', async () => {
    const log = await FileAuditLog.open(dir);
    await log.close();
    await expect(log.append(record(1))).rejects.toThrow(/closed/);
  });
});
