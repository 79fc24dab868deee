import { execFile } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTestApp, type TestApp } from '../helpers/local-app';

const ROOT = path.join(__dirname, '..', '..');
const RUNBOOK = readFileSync(path.join(ROOT, 'docs', 'RUNBOOK.md'), 'utf8');

interface Step {
  commands: string;
  expected: string[];
}

/** The runbook's `sh` blocks, in order, each with the `text` block that shows its output. */
function steps(markdown: string): Step[] {
  const blocks = [...markdown.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({
    lang: m[1],
    body: m[2] ?? '',
    start: m.index ?? 0,
    end: (m.index ?? 0) + m[0].length,
  }));
  const out: Step[] = [];
  blocks.forEach((b, i) => {
    if (b.lang !== 'sh') return;
    const next = blocks[i + 1];
    const between = next ? markdown.slice(b.end, next.start) : 'x';
    const expected =
      next?.lang === 'text' && between.trim() === ''
        ? next.body.split('\n').filter((l) => l.trim() !== '')
        : [];
    out.push({ commands: b.body, expected });
  });
  return out;
}

function bash(
  script: string,
  cwd: string,
  env: Record<string, string>,
): Promise<{ code: number; out: string }> {
  // `npx airlock` is the package's own bin; from this scratch directory it is run by path.
  const prelude = `set -euo pipefail
npx() { if [ "$1" = airlock ]; then shift; node ${JSON.stringify(path.join(ROOT, 'bin', 'airlock.cjs'))} "$@"; else command npx "$@"; fi; }
`;
  return new Promise((resolve) => {
    execFile(
      'bash',
      ['-c', prelude + script],
      { cwd, env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, out: `${stdout}${stderr}` });
      },
    );
  });
}

describe('docs/RUNBOOK.md', () => {
  let t: TestApp;
  let cwd: string;
  beforeAll(async () => {
    t = await startTestApp();
    cwd = await fs.mkdtemp(path.join(os.tmpdir(), 'airlock-runbook-'));
  });
  afterAll(async () => {
    await t.close();
    await fs.rm(cwd, { recursive: true, force: true });
  });

  it('is the package bin: `npx airlock` runs the CLI from the repository', async () => {
    const run = await new Promise<{ code: number; out: string }>((resolve) => {
      execFile(
        'npx',
        ['--offline', 'airlock', '--help'],
        { cwd: ROOT, timeout: 60_000 },
        (err, stdout) => resolve({ code: err ? 1 : 0, out: stdout }),
      );
    });

    expect(run.code).toBe(0);
    expect(run.out).toContain('usage: airlock [--local | --stack NAME] <command>');
  });

  it('has local steps for each of the five phases', () => {
    const found = steps(RUNBOOK);
    expect(found.length).toBeGreaterThanOrEqual(6);
    for (const phase of ['Detect', 'Contain', 'Eradicate', 'Recover', 'Post-mortem']) {
      expect(RUNBOOK).toContain(`. ${phase}`);
    }
  });

  it('runs each local command as written, with the output it shows', async () => {
    const port = new URL(t.app.url).port;
    // Traffic for the report to show, before the incident starts.
    await t.act({ action: 'search_contact', email: 'jane@acme.example' });

    for (const step of steps(RUNBOOK)) {
      const run = await bash(step.commands, cwd, {
        PORT: port,
        AIRLOCK_DATA_DIR: t.app.dataDir,
      });
      const where = `\n--- ran:\n${step.commands}--- got (exit ${run.code}):\n${run.out}`;
      expect({ code: run.code, where }).toEqual({ code: 0, where });
      for (const line of step.expected) {
        const wanted = line.replace('8787', port);
        expect({ wanted, found: run.out.includes(wanted), where }).toEqual({
          wanted,
          found: true,
          where,
        });
      }
    }
    expect((await fs.readdir(path.join(cwd, 'evidence'))).sort()).toContain('manifest.json');
  });
});
