import OpenAI from 'openai';
import { runAgent } from '../../examples/openai-chat/agent';
import type { AirlockClient } from '../../lambdas/client';
import { DEMO } from '../../lambdas/emulator/seed';
import type { FakeOpenAi } from '../helpers/fake-openai';
import type { TestApp } from '../helpers/local-app';
import { type OfflineAgent, startOfflineAgent } from '../helpers/offline-agent';

describe('the OpenAI chat example (openai package)', () => {
  let t: TestApp;
  let fake: FakeOpenAi;
  let gateway: AirlockClient;
  let openai: OpenAI;
  let offline: OfflineAgent;

  beforeAll(async () => {
    offline = await startOfflineAgent();
    ({ t, fake, gateway, openai } = offline);
  });
  afterAll(() => offline.close());
  beforeEach(() => offline.reset());
  afterEach(() => {
    // No network: every call went to the gateway or the fake, both on this machine.
    offline.expectStayedLocal();
  });

  const run = (prompt: string, userId = 'u-chat') =>
    runAgent({ gateway, openai, model: 'gpt-test', userId, prompt });

  it('gives the model the gateway’s tools unchanged and passes a read’s data back', async () => {
    fake.script([
      {
        toolCalls: [
          {
            name: 'get_last_email_interaction',
            arguments: { company: 'Acme Corp', contact_email: null },
          },
        ],
      },
      { text: 'The last email with Acme Corp was about the Q3 renewal pricing.' },
    ]);

    const result = await run('Find the last email with Acme Corp');

    expect(result.answer).toBe('The last email with Acme Corp was about the Q3 renewal pricing.');
    expect(fake.remaining()).toBe(0);
    const [first, second] = fake.chatRequests();
    expect(first?.tools).toEqual((await gateway.listTools()).tools);
    expect(first?.model).toBe('gpt-test');
    expect(first?.messages.at(-1)).toEqual({
      role: 'user',
      content: 'Find the last email with Acme Corp',
    });
    const toolResult = second?.messages.find((m) => m.role === 'tool');
    expect(toolResult?.tool_call_id).toBe('call_1_0');
    expect(JSON.parse(String(toolResult?.content))).toMatchObject({
      status: 'completed',
      action: 'get_last_email_interaction',
      data: {
        record: { type: 'company', id: DEMO.acmeCompanyId, name: 'Acme Corp' },
        last_email: {
          timestamp: DEMO.acmeLatestEmail.timestamp,
          subject: { untrusted_text: DEMO.acmeLatestEmail.subject },
          direction: DEMO.acmeLatestEmail.direction,
        },
      },
    });
    expect(result.events.map((e) => e.type)).toEqual(['tool_call', 'read']);
    expect(result.pending).toEqual([]);
    const audited = (await t.audit()).find(
      (r) => r.user_id === 'u-chat' && r.action === 'get_last_email_interaction',
    );
    expect(audited).toMatchObject({
      outcome: 'completed',
      agent_prompt: 'Find the last email with Acme Corp',
      structured_action: { action: 'get_last_email_interaction', company: 'Acme Corp' },
    });
  });

  it('tells the model a write waits for approval, with its status URL', async () => {
    fake.script([
      {
        toolCalls: [
          {
            name: 'create_note',
            arguments: {
              contact_id: null,
              company_id: DEMO.acmeCompanyId,
              body: 'Called about the Q3 renewal; follow up Friday.',
            },
          },
        ],
      },
      { text: 'I asked for the note; a person must approve it before it is added.' },
    ]);

    const result = await run('Add a note to Acme Corp: called about the renewal', 'u-write');

    expect(result.answer).toBe(
      'I asked for the note; a person must approve it before it is added.',
    );
    expect(result.pending).toHaveLength(1);
    const write = result.pending[0];
    expect(write?.status_url).toBe(`${t.app.url}/v1/actions/${write?.request_id}`);
    const [toolResult] = fake.toolMessages();
    expect(toolResult?.content).toMatchObject({
      status: 'pending_approval',
      request_id: write?.request_id,
      approval: { id: write?.approval.id, expires_at: write?.approval.expires_at },
      status_url: write?.status_url,
      instruction: expect.stringContaining('a person must approve'),
    });
    const records = (await t.audit()).filter((r) => r.user_id === 'u-write');
    expect(records).toEqual([
      expect.objectContaining({
        action: 'create_note',
        outcome: 'pending_approval',
        response_status: 202,
        request_id: write?.request_id,
      }),
    ]);
    expect(t.app.emulator?.notes().some((n) => n.body?.startsWith('Called about the Q3'))).toBe(
      false,
    );
  });

  it('returns a gateway refusal to the model as the tool’s result instead of throwing', async () => {
    fake.script([
      {
        toolCalls: [
          {
            name: 'search_contact',
            arguments: { email: null, name: null, company: 'Acme Corp', limit: 500 },
          },
        ],
      },
      { text: 'The gateway refused to list that many contacts; ask for at most 10.' },
    ]);

    const result = await run('Export every contact at Acme Corp', 'u-bulk');

    expect(result.answer).toBe(
      'The gateway refused to list that many contacts; ask for at most 10.',
    );
    const [toolResult] = fake.toolMessages();
    expect(toolResult?.content).toMatchObject({
      error: { code: 'bulk_request_rejected', message: expect.stringContaining('limit 500') },
    });
    expect(result.events).toContainEqual(
      expect.objectContaining({ type: 'refused', code: 'bulk_request_rejected' }),
    );
    const records = (await t.audit()).filter((r) => r.user_id === 'u-bulk');
    expect(records).toEqual([
      expect.objectContaining({ outcome: 'rejected', reason: 'bulk_request_rejected' }),
    ]);
  });

  it('fails loudly on a wrong OpenAI key, having sent nothing to the gateway', async () => {
    fake.script([{ text: 'never sent' }]);
    const wrongKey = new OpenAI({
      apiKey: `${fake.apiKey}x`,
      baseURL: fake.baseURL,
      maxRetries: 0,
    });

    await expect(
      runAgent({ gateway, openai: wrongKey, model: 'gpt-test', userId: 'u-key', prompt: 'Hi' }),
    ).rejects.toBeInstanceOf(OpenAI.AuthenticationError);

    expect(fake.requests.map((r) => r.authorized)).toEqual([false]);
    expect(fake.remaining()).toBe(1);
    expect((await t.audit()).filter((r) => r.user_id === 'u-key')).toEqual([]);
    fake.requests.length = 0;
  });

  it('stops a model that keeps calling tools after the round limit and has it report', async () => {
    const again = {
      toolCalls: [{ name: 'search_company', arguments: { name: 'Acme', domain: null, limit: 1 } }],
    };
    fake.script([again, again, { text: 'I searched for Acme twice.' }]);

    const result = await runAgent({
      gateway,
      openai,
      model: 'gpt-test',
      userId: 'u-loop',
      prompt: 'Find Acme',
      maxRounds: 2,
    });

    expect(result.answer).toBe('I searched for Acme twice.');
    const requests = fake.chatRequests();
    expect(requests).toHaveLength(3);
    expect(requests[2]?.tool_choice).toBe('none');
    const searches = (await t.audit()).filter(
      (r) => r.user_id === 'u-loop' && r.action === 'search_company',
    );
    expect(searches).toHaveLength(2);
  });

  it('runs at most four tool calls of one answer, and says so for the rest', async () => {
    const note = (i: number) => ({
      name: 'create_note',
      arguments: { contact_id: DEMO.acmeContactId, company_id: null, body: `Note ${i}` },
    });
    fake.script([
      { toolCalls: [1, 2, 3, 4, 5, 6].map(note) },
      { text: 'Four notes wait for approval.' },
    ]);

    await runAgent({
      gateway,
      openai,
      model: 'gpt-test',
      userId: 'u-burst',
      prompt: 'Log six notes',
    });

    const queued = (await t.audit()).filter(
      (r) => r.user_id === 'u-burst' && r.outcome === 'pending_approval',
    );
    expect(queued).toHaveLength(4);
    const refused = fake
      .toolMessages()
      .filter((m) => JSON.stringify(m.content).includes('too_many_calls'));
    expect(refused).toHaveLength(2);
  });
});
