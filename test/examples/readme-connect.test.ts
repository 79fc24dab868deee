import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { openAiTools } from '../../lambdas/core/catalog';
import { foldCase } from '../../lambdas/core/identity';
import { DEMO } from '../../lambdas/emulator/seed';
import { type FakeOpenAi, startFakeOpenAi } from '../helpers/fake-openai';
import { startTestApp, type TestApp } from '../helpers/local-app';

const ROOT = path.join(__dirname, '..', '..');
const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** The fenced blocks of one `## ` section of the README, with their language. */
function blocks(section: string): { lang: string; body: string }[] {
  const start = README.indexOf(`\n## ${section}\n`);
  const end = README.indexOf('\n## ', start + 1);
  const text = README.slice(start, end);
  return [...text.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({
    lang: m[1] ?? '',
    body: m[2] ?? '',
  }));
}

/** Runs one command line in bash from the repository, with `stdin` as its input. */
function bash(
  line: string,
  env: Record<string, string>,
  stdin: string,
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', `set -euo pipefail\n${line}`], {
      cwd: ROOT,
      env: { ...process.env, ...env },
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, out });
    });
    child.stdin.end(stdin);
  });
}

describe('the README, "Connect an OpenAI agent" and "Connect an MCP client", as written', () => {
  let t: TestApp;
  let openai: FakeOpenAi;
  beforeAll(async () => {
    t = await startTestApp();
    openai = await startFakeOpenAi();
  });
  afterAll(async () => {
    await openai.close();
    await t.close();
  });

  it('runs each example command against the local gateway', async () => {
    const commands = (blocks('Connect an OpenAI agent').find((b) => b.lang === 'sh')?.body ?? '')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
    expect(commands.length).toBeGreaterThanOrEqual(3);
    const env = {
      OPENAI_API_KEY: openai.apiKey,
      OPENAI_BASE_URL: openai.baseURL,
      PORT: new URL(t.app.url).port,
      AIRLOCK_DATA_DIR: t.app.dataDir,
    };

    for (const line of commands) {
      const write = line.includes('Add a note');
      openai.script(
        write
          ? [
              {
                toolCalls: [
                  {
                    name: 'create_note',
                    arguments: {
                      company_id: DEMO.acmeCompanyId,
                      contact_id: null,
                      body: 'Called Jane.',
                    },
                  },
                ],
              },
              { text: 'A person must approve the note first.' },
            ]
          : [
              {
                toolCalls: [
                  { name: 'get_last_email_interaction', arguments: { company: 'Acme Corp' } },
                ],
              },
              { text: 'The last email with Acme Corp was about the Q3 renewal.' },
            ],
      );

      // The Agents SDK example asks y/N on the terminal before requesting a write.
      const run = await bash(line, env, 'y\n');

      const where = `\n--- ran: ${line}\n--- got (exit ${run.code}):\n${run.out}`;
      expect({ code: run.code, where }).toEqual({ code: 0, where });
      expect(run.out).toContain(write ? 'A person must approve the note first.' : 'Q3 renewal');
      if (write) expect(run.out).toContain(`${t.app.url}/approvals`);
      expect(openai.remaining()).toBe(0);
    }
    const records = await t.audit();
    expect(
      records.filter((r) => r.action === 'create_note' && r.outcome === 'pending_approval'),
    ).toHaveLength(2);
  });

  it('starts the MCP server from the JSON configuration shown', async () => {
    const json = blocks('Connect an MCP client').find((b) => b.lang === 'json')?.body ?? '{}';
    const config = (
      JSON.parse(json) as {
        mcpServers: Record<
          string,
          { command: string; args: string[]; env: Record<string, string> }
        >;
      }
    ).mcpServers['crm-airlock'];
    if (!config) throw new Error('no crm-airlock server in the README');
    // The reader's paths, made this checkout's and this test's gateway.
    const args = config.args.map((a) =>
      a
        .replace('/path/to/crm-airlock/.airlock', t.app.dataDir)
        .replace('/path/to/crm-airlock', ROOT),
    );
    const transport = new StdioClientTransport({
      command: config.command,
      args,
      env: {
        ...(process.env as Record<string, string>),
        ...config.env,
        PORT: new URL(t.app.url).port,
      },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'readme-test', version: '1.0.0' });
    await client.connect(transport);
    try {
      const { tools } = await client.listTools();
      const gatewayTools = openAiTools().map((x) => x.function.name);
      expect(tools.map((x) => x.name)).toEqual(expect.arrayContaining(gatewayTools));
      const answer = await client.callTool({
        name: 'get_last_email_interaction',
        arguments: { company: 'Acme Corp' },
      });
      expect(answer.isError).toBeFalsy();
      expect(JSON.stringify(answer.content)).toContain(DEMO.acmeCompanyId);
      const records = await t.audit();
      expect(records.at(-1)).toMatchObject({
        // Recorded in its canonical form (NFKC, case folded).
        user_id: foldCase(config.env.AIRLOCK_USER_ID ?? ''),
        agent_prompt: expect.stringContaining('readme-test'),
      });
    } finally {
      await client.close();
    }
  });
});
