import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { verifyAuditLog, verifyLocalWindow } from '../../lambdas/adapters/local/audit-verify';
import { FileAuditLog, listAuditFiles } from '../../lambdas/adapters/local/file-audit-log';
import type { AuditRecord } from '../../lambdas/core/audit';
import { type CliIO, runCli } from '../../lambdas/ops/cli';
import { chainRecord } from '../helpers/audit-records';

const ROOT = path.resolve(__dirname, '../..');
const FILE = 'audit-2026-11-29.jsonl';
const WINDOW = { since: '2026-11-29T00:00:00.000Z', until: '2026-11-30T00:00:00.000Z' };

function record(i: number): AuditRecord {
  return chainRecord(i, `2026-11-29T10:${String(i % 60).padStart(2, '0')}:00.000Z`);
}

/**
 * HEAD (issue 11, item 6): durable with each commit, recovered after a crash between the lines'
 * sync and HEAD's, and checked by every verifier of the local chain with one rule.
 */
describe('audit HEAD: durable, recovered after a crash, and always checked', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'audit-head-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const headPath = () => path.join(dir, 'HEAD');
  const readHeadFile = () =>
    JSON.parse(readFileSync(headPath(), 'utf8')) as { seq: number; hash: string };
  const lines = () => readFileSync(path.join(dir, FILE), 'utf8').trimEnd().split('\n');
  const rewrite = (all: string[]) => writeFileSync(path.join(dir, FILE), `${all.join('\n')}\n`);
  const cutLastLine = () => rewrite(lines().slice(0, -1));

  async function writeRecords(n: number, from = 0): Promise<void> {
    const log = await FileAuditLog.open(dir);
    await Promise.all(Array.from({ length: n }, (_, i) => log.append(record(from + i))));
    await log.close();
  }

  /** Lines beyond HEAD, as a crash between the lines' fdatasync and HEAD's leaves them. */
  async function crashAfterLines(before: number, after: number): Promise<void> {
    await writeRecords(before);
    const stale = readFileSync(headPath());
    await writeRecords(after, before);
    writeFileSync(headPath(), stale);
  }

  /** `npm run audit:verify` as a child process. */
  function auditVerifyCli(...args: string[]) {
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'lambdas/local/audit-verify-cli.ts', '--dir', dir, ...args],
      { cwd: ROOT, encoding: 'utf8', timeout: 30_000 },
    );
    return { code: run.status, out: run.stdout, err: run.stderr };
  }

  /** `npx airlock --local verify` in this process, over `dir` as the data dir's audit log. */
  async function airlockVerify(...args: string[]) {
    const dataDir = path.dirname(dir);
    const auditDir = path.join(dataDir, 'audit');
    let out = '';
    let err = '';
    const io: CliIO = {
      out: (s) => {
        out += s;
      },
      err: (s) => {
        err += s;
      },
      stdin: Readable.from(['']),
      stdoutIsTTY: false,
      env: {},
      now: () => Date.parse('2026-11-29T12:00:00.000Z'),
    };
    expect(auditDir).toBe(dir);
    const code = await runCli(
      [
        '--local',
        '--data-dir',
        dataDir,
        'verify',
        '--since',
        WINDOW.since,
        '--until',
        WINDOW.until,
        ...args,
      ],
      io,
    );
    return { code, out, err };
  }

  describe('the writer', () => {
    it('creates HEAD for a new, empty log, before any record', async () => {
      const log = await FileAuditLog.open(dir);
      expect(readHeadFile()).toEqual({ seq: 0, hash: '0'.repeat(64) });
      await log.close();
      expect(await verifyAuditLog(dir)).toMatchObject({ ok: true, records: 0 });
    });

    it('has HEAD on disk covering every record by the time its append resolves', async () => {
      const log = await FileAuditLog.open(dir);
      let resolved = 0;
      const seen: { resolved: number; head: number }[] = [];
      const appends: Promise<void>[] = [];
      for (let i = 0; i < 60; i += 1) {
        appends.push(
          log.append(record(i)).then(() => {
            resolved += 1;
            // Read HEAD from disk at the moment the caller would answer.
            seen.push({ resolved, head: readHeadFile().seq });
          }),
        );
        if (i % 7 === 0) await new Promise((r) => setTimeout(r, 1));
      }
      await Promise.all(appends);
      expect(seen).toHaveLength(60);
      for (const s of seen) expect(s.head).toBeGreaterThanOrEqual(s.resolved);
      await log.close();
      expect(readHeadFile().seq).toBe(60);
    });
  });

  describe('audit:verify and every verifier of the local chain', () => {
    it('is BROKEN when the last line is cut with HEAD present', async () => {
      await writeRecords(5);
      cutLastLine();

      const result = await verifyAuditLog(dir);

      expect(result.ok).toBe(false);
      expect(result.problems).toEqual([
        expect.objectContaining({ kind: 'truncated', file: 'HEAD', seq: 5 }),
      ]);
      expect(result.problems[0]?.reason).toMatch(
        /HEAD names record 5 but the log ends at record 4/,
      );
    });

    it('is BROKEN when HEAD is missing; with --allow-stale-head, a loud warning and OK', async () => {
      await writeRecords(5);
      unlinkSync(headPath());

      const strict = await verifyAuditLog(dir);
      const allowed = await verifyAuditLog(dir, { allowStaleHead: true });

      expect(strict.ok).toBe(false);
      expect(strict.problems).toEqual([
        expect.objectContaining({ kind: 'missing', file: 'HEAD', seq: null }),
      ]);
      expect(strict.problems[0]?.reason).toMatch(/no HEAD file/);
      expect(strict.problems[0]?.reason).toMatch(/--allow-stale-head/);
      expect(allowed).toMatchObject({ ok: true, records: 5, problems: [] });
      expect(allowed.warnings).toEqual([expect.stringMatching(/^WARNING: .*no HEAD file/)]);
    });

    it('is BROKEN when HEAD is behind the last record; with the flag, a warning', async () => {
      await crashAfterLines(5, 3);

      const strict = await verifyAuditLog(dir);
      const allowed = await verifyAuditLog(dir, { allowStaleHead: true });

      expect(strict.ok).toBe(false);
      expect(strict.problems).toEqual([
        expect.objectContaining({ file: 'HEAD', seq: 5, kind: 'altered' }),
      ]);
      expect(strict.problems[0]?.reason).toMatch(
        /HEAD names record 5 but the log goes on to record 8/,
      );
      expect(allowed).toMatchObject({ ok: true, records: 8, problems: [] });
      expect(allowed.warnings).toEqual([
        expect.stringMatching(/^WARNING: HEAD names record 5 but the log goes on to record 8/),
      ]);
    });

    it('never waives lines cut off the end (HEAD ahead) or a HEAD that names another record', async () => {
      await writeRecords(5);
      cutLastLine();
      const cut = await verifyAuditLog(dir, { allowStaleHead: true });
      const head = readHeadFile();
      writeFileSync(headPath(), JSON.stringify({ seq: 4, hash: 'f'.repeat(64) }));
      const replaced = await verifyAuditLog(dir, { allowStaleHead: true });

      expect(head.seq).toBe(5);
      expect(cut.ok).toBe(false);
      expect(cut.problems.map((p) => p.kind)).toEqual(['truncated']);
      expect(replaced.ok).toBe(false);
      expect(replaced.problems.map((p) => p.kind)).toEqual(['altered']);
      expect(replaced.problems[0]?.reason).toMatch(/HEAD does not match record 4/);
    });

    it('applies the same rule to a window (npx airlock verify, the evidence report)', async () => {
      await crashAfterLines(4, 2);

      const strict = await verifyLocalWindow(dir, WINDOW);
      const allowed = await verifyLocalWindow(dir, WINDOW, { allowStaleHead: true });

      expect(strict.integrity.ok).toBe(false);
      expect(strict.integrity.problems).toEqual([
        expect.objectContaining({ where: 'HEAD:1', detail: expect.stringMatching(/^seq 4: /) }),
      ]);
      expect(allowed.integrity.ok).toBe(true);
      expect(allowed.integrity.notes).toEqual([expect.stringMatching(/^WARNING: HEAD names/)]);
      expect(allowed.warnings).toEqual(allowed.integrity.notes);
    });

    it('audit:verify exits 1 on a missing HEAD, and 0 with --allow-stale-head and a warning on stderr', async () => {
      await writeRecords(3);
      unlinkSync(headPath());

      const strict = auditVerifyCli();
      const allowed = auditVerifyCli('--allow-stale-head');

      expect(strict.code).toBe(1);
      expect(strict.out).toMatch(/^BROKEN: there is no HEAD file/);
      expect(strict.out).toMatch(/--allow-stale-head/);
      expect(allowed.code).toBe(0);
      expect(allowed.out).toMatch(/^OK: the audit chain is whole: 3 records/);
      expect(allowed.err).toMatch(/^WARNING: .*no HEAD file/);
      expect(allowed.err).toMatch(/--allow-stale-head/);
    });

    it('audit:verify never waives a cut: exit 1 even with the flag', async () => {
      await writeRecords(3);
      cutLastLine();

      const run = auditVerifyCli('--allow-stale-head');

      expect(run.code).toBe(1);
      expect(run.out).toMatch(/^BROKEN: HEAD names record 3 but the log ends at record 2/);
    });

    it('npx airlock --local verify: BROKEN on a stale HEAD; with the flag, exit 0 and a warning on stderr', async () => {
      rmSync(dir, { recursive: true, force: true });
      const dataDir = mkdtempSync(path.join(os.tmpdir(), 'audit-head-data-'));
      dir = path.join(dataDir, 'audit');
      mkdirSync(dir);
      await crashAfterLines(3, 2);

      const strict = await airlockVerify();
      const allowed = await airlockVerify('--allow-stale-head');
      rmSync(dataDir, { recursive: true, force: true });

      expect(strict.code).toBe(1);
      expect(strict.out).toMatch(/INTEGRITY: BROKEN/);
      expect(strict.out).toMatch(/HEAD names record 3 but the log goes on to record 5/);
      expect(allowed.code).toBe(0);
      expect(allowed.out).toMatch(/INTEGRITY: OK/);
      expect(allowed.err).toMatch(/^WARNING: HEAD names record 3/);
    });

    it('npx airlock refuses --allow-stale-head on AWS, where there is no HEAD to waive', async () => {
      let err = '';
      const code = await runCli(['verify', '--since', '1h', '--allow-stale-head'], {
        out: () => undefined,
        err: (s) => {
          err += s;
        },
        stdin: Readable.from(['']),
        stdoutIsTTY: false,
        env: {},
        now: Date.now,
        aws: () => {
          throw new Error('AWS must not be reached');
        },
      });
      expect(code).toBe(2);
      expect(err).toMatch(/^--allow-stale-head applies to the local audit log only/);
    });

    it('does not call a log being written BROKEN (HEAD read first, a lagging HEAD re-read)', async () => {
      const log = await FileAuditLog.open(dir);
      let writing = true;
      const writer = (async () => {
        for (let i = 0; i < 400 && writing; i += 1) {
          await Promise.all([log.append(record(2 * i)), log.append(record(2 * i + 1))]);
        }
      })();
      const verdicts: boolean[] = [];
      for (let i = 0; i < 15; i += 1) {
        const result = await verifyAuditLog(dir);
        verdicts.push(result.ok);
        if (!result.ok) console.error(result.problems);
      }
      writing = false;
      await writer;
      await log.close();
      expect(verdicts.every((ok) => ok)).toBe(true);
      expect(await verifyAuditLog(dir)).toMatchObject({ ok: true, problems: [] });
    });
  });

  describe('opening the log (npm start)', () => {
    it('recovers after a crash between the lines and HEAD, then a cut of the last line is BROKEN', async () => {
      await crashAfterLines(5, 3);

      const log = await FileAuditLog.open(dir);
      await log.close();

      expect(log.recovered).toEqual({ from: 5, to: 8 });
      expect(readHeadFile().seq).toBe(8);
      expect(await verifyAuditLog(dir)).toMatchObject({ ok: true, records: 8, problems: [] });
      cutLastLine();
      expect(await verifyAuditLog(dir)).toMatchObject({ ok: false });
      expect((await verifyAuditLog(dir)).problems[0]?.reason).toMatch(/cut off/);
    });

    it('recovers from the genesis HEAD when the crash came before the first HEAD move', async () => {
      await writeRecords(0);
      const genesis = readFileSync(headPath());
      await writeRecords(2);
      writeFileSync(headPath(), genesis);

      const log = await FileAuditLog.open(dir);
      await log.close();

      expect(log.recovered).toEqual({ from: 0, to: 2 });
      expect(await verifyAuditLog(dir)).toMatchObject({ ok: true, records: 2 });
    });

    it('takes over a HEAD in the unpadded format of earlier versions, and keeps it fixed-width', async () => {
      await writeRecords(3);
      const head = readHeadFile();
      writeFileSync(headPath(), `${JSON.stringify(head)}\n`);

      const log = await FileAuditLog.open(dir);
      await log.append(record(3));
      await log.close();

      expect(readFileSync(headPath())).toHaveLength(128);
      expect(readHeadFile().seq).toBe(4);
      expect(await verifyAuditLog(dir)).toMatchObject({ ok: true, records: 4 });
    });

    it('reports nothing recovered after a clean stop', async () => {
      await writeRecords(3);
      const log = await FileAuditLog.open(dir);
      await log.close();
      expect(log.recovered).toBeNull();
    });

    it('refuses a log whose HEAD is ahead (lines cut while stopped), naming both seqs and what to do', async () => {
      await writeRecords(6);
      rewrite(lines().slice(0, 4));

      const opening = FileAuditLog.open(dir);

      await expect(opening).rejects.toThrow(/HEAD names record 6 but the log ends at record 4/);
      const message = await opening.then(
        () => '',
        (err: Error) => err.message,
      );
      expect(message).toContain(`npm run audit:verify -- --dir ${dir}`);
      expect(message).toMatch(/evidence/);
      expect(message).toMatch(/start a new log/);
      // Nothing was touched: the evidence is as it was found.
      expect(lines()).toHaveLength(4);
      expect(readHeadFile().seq).toBe(6);
    });

    it('refuses a non-empty log without HEAD', async () => {
      await writeRecords(2);
      unlinkSync(headPath());

      await expect(FileAuditLog.open(dir)).rejects.toThrow(/no HEAD file.*the last is record 2/s);
      expect(existsSync(headPath())).toBe(false);
    });

    it('refuses a HEAD that does not match the record it names (lines replaced)', async () => {
      await writeRecords(3);
      writeFileSync(headPath(), JSON.stringify({ seq: 3, hash: 'a'.repeat(64) }));

      await expect(FileAuditLog.open(dir)).rejects.toThrow(/HEAD does not match record 3/);
    });

    it('refuses records after HEAD that do not continue the chain from it', async () => {
      await crashAfterLines(3, 3);
      const all = lines();
      all[4] = (all[4] ?? '').replace('"user_id":"u-4"', '"user_id":"u-intruder"');
      rewrite(all);

      await expect(FileAuditLog.open(dir)).rejects.toThrow(
        /record 5 .*does not continue the chain/,
      );
      expect(readHeadFile().seq).toBe(3);
    });

    it('refuses an unreadable HEAD', async () => {
      await writeRecords(2);
      writeFileSync(headPath(), 'not json');

      await expect(FileAuditLog.open(dir)).rejects.toThrow(/HEAD is not/);
    });

    it('still cuts a line torn by a crash (it was never answered) and carries on', async () => {
      await writeRecords(3);
      const [file] = await listAuditFiles(dir);
      const full = path.join(dir, file ?? '');
      writeFileSync(full, `${readFileSync(full, 'utf8')}{"timestamp":"2026-11-29T10:0`);

      const log = await FileAuditLog.open(dir);
      await log.append(record(9));
      await log.close();

      expect(log.recovered).toBeNull();
      expect(await verifyAuditLog(dir)).toMatchObject({ ok: true, records: 4 });
    });
  });
});
