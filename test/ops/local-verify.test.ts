import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  verifyAuditLog,
  verifyChainSegment,
  verifyLocalWindow,
} from '../../lambdas/adapters/local/audit-verify';
import { chainHash, FileAuditLog, GENESIS_HASH } from '../../lambdas/adapters/local/file-audit-log';
import type { AuditRecord } from '../../lambdas/core/audit';
import { chainRecord } from '../helpers/audit-records';

const FILE = 'audit-2026-11-29.jsonl';

function record(i: number, minute = i): AuditRecord {
  return {
    ...chainRecord(i, `2026-11-29T10:${String(minute).padStart(2, '0')}:00.000Z`),
    record_count: 1,
  };
}

describe('local verification of the audit chain and of a window', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'local-verify-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Writes records 0..n-1 in order, one a minute from 10:00, through the real log. */
  async function writeChain(n: number, minute?: (i: number) => number): Promise<void> {
    const log = await FileAuditLog.open(dir);
    for (let i = 0; i < n; i += 1) await log.append(record(i, minute?.(i)));
    await log.close();
  }

  function lines(): string[] {
    return readFileSync(path.join(dir, FILE), 'utf8').trimEnd().split('\n');
  }

  function rewrite(all: string[]): void {
    writeFileSync(path.join(dir, FILE), `${all.join('\n')}\n`);
  }

  it('verifies a clean log, with its whole window', async () => {
    await writeChain(6);

    const result = await verifyLocalWindow(dir, {
      since: '2026-11-29T00:00:00.000Z',
      until: '2026-11-30T00:00:00.000Z',
    });

    expect(result.integrity).toEqual({
      ok: true,
      method: 'hash-chain',
      checked: 6,
      problems: [],
      notes: [],
    });
    expect(result.records).toHaveLength(6);
    expect(result.context).toEqual([]);
    expect(result.material).toMatchObject({ first_prev_hash: GENESIS_HASH, first_seq: 1 });
  });

  it('reports both a removed record and an altered one in the same log, with kind and where', async () => {
    await writeChain(10);
    const all = lines();
    // Line 8 (seq 8) is altered first, then line 3 (seq 3) removed: the altered record moves to line 7.
    all[7] = (all[7] ?? '').replace('"user_id":"u-7"', '"user_id":"u-intruder"');
    all.splice(2, 1);
    rewrite(all);

    const { integrity } = await verifyLocalWindow(dir, {
      since: '2026-11-29T10:00:00.000Z',
      until: '2026-11-29T11:00:00.000Z',
    });
    const full = await verifyAuditLog(dir);

    expect(integrity.ok).toBe(false);
    expect(integrity.problems).toEqual([
      {
        kind: 'missing',
        where: `${FILE}:3`,
        detail: expect.stringMatching(/^seq 4: expected seq 3, found 4: a record is missing/),
        request_id: 'req_3',
      },
      {
        kind: 'altered',
        where: `${FILE}:7`,
        detail: expect.stringMatching(/^seq 8: the hash does not match the record/),
        request_id: 'req_7',
      },
    ]);
    expect(full.problems.map((p) => [p.kind, p.line, p.seq])).toEqual([
      ['missing', 3, 4],
      ['altered', 7, 8],
    ]);
  });

  it('reports records cut off the end as truncated, and an unparsable line', async () => {
    await writeChain(5);
    const all = lines();
    all[1] = '{"seq": 2, "torn';
    rewrite(all.slice(0, 4));

    const { integrity } = await verifyLocalWindow(dir, {
      since: '2026-11-29T10:00:00.000Z',
      until: '2026-11-29T11:00:00.000Z',
    });

    expect(integrity.problems.map((p) => [p.kind, p.where])).toEqual([
      ['unparsable', `${FILE}:2`],
      ['truncated', 'HEAD:1'],
    ]);
  });

  it('lists at most 100 problems and says how many more there were', async () => {
    await writeChain(130, (i) => i % 60);
    rewrite(lines().map((l) => l.replace('"duration_ms":3', '"duration_ms":4')));

    const result = await verifyAuditLog(dir);
    const { integrity } = await verifyLocalWindow(dir, {
      since: '2026-11-29T10:00:00.000Z',
      until: '2026-11-29T13:00:00.000Z',
    });

    expect(result.problems).toHaveLength(100);
    expect(integrity.notes).toContainEqual(expect.stringMatching(/^30 more problem\(s\)/));
  });

  it('takes the contiguous segment of a window, its context and the material that anchors it', async () => {
    // Record 5 is stamped 10:01 (a clock stepped back) but sits inside the window's run.
    await writeChain(10, (i) => (i === 5 ? 1 : i));
    const all = lines();
    const hashOf = (line: number) => JSON.parse(all[line - 1] ?? '{}').hash as string;

    const result = await verifyLocalWindow(dir, {
      since: '2026-11-29T10:03:00.000Z',
      until: '2026-11-29T10:07:00.000Z',
    });

    expect(result.records.map((r) => r.record.request_id)).toEqual([
      'req_3',
      'req_4',
      'req_5',
      'req_6',
    ]);
    expect(result.records.map((r) => r.where)).toEqual([4, 5, 6, 7].map((l) => `${FILE}:${l}`));
    expect(result.records.map((r) => r.line)).toEqual(all.slice(3, 7));
    expect(result.context.map((r) => r.request_id)).toEqual(['req_0', 'req_1', 'req_2']);
    expect(result.material).toEqual({
      kind: 'hash-chain',
      first_prev_hash: hashOf(3),
      first_seq: 4,
      last_hash: hashOf(7),
      head: { seq: 10, hash: hashOf(10) },
    });
    expect(result.integrity.ok).toBe(true);
  });

  it('gives an empty segment for a window with no record, anchored where it would start', async () => {
    await writeChain(4);

    const result = await verifyLocalWindow(dir, {
      since: '2026-11-29T10:01:30.000Z',
      until: '2026-11-29T10:01:50.000Z',
    });

    expect(result.records).toEqual([]);
    expect(result.context.map((r) => r.request_id)).toEqual(['req_0', 'req_1']);
    expect(result.material).toMatchObject({ first_seq: null, last_hash: null });
    expect(result.material.first_prev_hash).toBe(JSON.parse(lines()[1] ?? '{}').hash);
  });

  it('re-verifies a segment offline, and finds a removed or altered line in it', async () => {
    await writeChain(8);
    const segment = lines().slice(2, 7);

    const clean = verifyChainSegment(segment, 'records.jsonl');
    const removed = verifyChainSegment(
      [...segment.slice(0, 2), ...segment.slice(3)],
      'records.jsonl',
    );
    const altered = verifyChainSegment(
      segment.map((l, i) =>
        i === 4 ? l.replace('"outcome":"completed"', '"outcome":"rejected"') : l,
      ),
      'records.jsonl',
    );

    expect(clean).toMatchObject({ ok: true, checked: 5, problems: [] });
    expect(removed.problems.map((p) => [p.kind, p.where])).toEqual([
      ['missing', 'records.jsonl:3'],
    ]);
    expect(altered.problems.map((p) => [p.kind, p.where])).toEqual([
      ['altered', 'records.jsonl:5'],
    ]);
  });

  it('finds a line whose hash was recomputed after editing, by the link from the next line', async () => {
    await writeChain(3);
    const chain = lines();
    // A self-consistent forgery: line 2 re-hashed, line 3 still hanging from the original.
    const { hash: _original, prev_hash, ...rest } = JSON.parse(chain[1] ?? '{}');
    rest.user_id = 'someone-else';
    chain[1] = JSON.stringify({ ...rest, prev_hash, hash: chainHash(prev_hash, rest) });

    const result = verifyChainSegment(chain, 'records.jsonl');

    expect(result.problems).toEqual([
      expect.objectContaining({
        kind: 'altered',
        where: 'records.jsonl:3',
        detail: expect.stringMatching(
          /prev_hash does not match the record before it \(records\.jsonl:2\)/,
        ),
      }),
    ]);
  });
});
