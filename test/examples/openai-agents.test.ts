import type OpenAI from 'openai';
import {
  DECLINED,
  needsConfirmation,
  runAgents,
  type ToolCallToConfirm,
} from '../../examples/openai-agents/agent';
import type { AirlockClient } from '../../lambdas/client';
import { CATALOG } from '../../lambdas/core/catalog';
import { DEMO } from '../../lambdas/emulator/seed';
import type { FakeOpenAi } from '../helpers/fake-openai';
import type { TestApp } from '../helpers/local-app';
import { type OfflineAgent, startOfflineAgent } from '../helpers/offline-agent';

const NOTE = {
  contact_id: null,
  company_id: DEMO.acmeCompanyId,
  body: 'Renewal call done; send the revised quote.',
};

describe('which tools the Agents SDK example asks the user to confirm', () => {
  it('marks exactly the catalog’s writes as needing confirmation, and unknown tools too', () => {
    const writes = CATALOG.filter((a) => needsConfirmation(a.name)).map((a) => a.name);
    expect(writes).toEqual(CATALOG.filter((a) => a.kind === 'write').map((a) => a.name));
    expect(writes).toContain('create_note');
    expect(needsConfirmation('delete_everything')).toBe(true);
  });
});

describe('the OpenAI Agents SDK example (@openai/agents)', () => {
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
    // No network (no traces to OpenAI either): every call stayed on this machine.
    offline.expectStayedLocal();
    expect(fake.remaining()).toBe(0);
  });

  const run = (prompt: string, userId: string, answers: boolean[]) => {
    const asked: ToolCallToConfirm[] = [];
    const confirm = async (call: ToolCallToConfirm) => {
      asked.push(call);
      const answer = answers.shift();
      if (answer === undefined) throw new Error(`unexpected confirmation of ${call.name}`);
      return answer;
    };
    return runAgents({ gateway, openai, model: 'gpt-test', userId, prompt, confirm }).then(
      (result) => ({ ...result, asked }),
    );
  };

  it('runs a read without asking, with the gateway’s tools as the model’s', async () => {
    fake.script([
      {
        toolCalls: [
          {
            name: 'search_contact',
            arguments: { email: DEMO.acmeContactEmail, name: null, company: null, limit: null },
          },
        ],
      },
      { text: 'Jane Cooper works at Acme Corp.' },
    ]);

    const result = await run('Who is jane.cooper@acme.com?', 'u-read', []);

    expect(result.answer).toBe('Jane Cooper works at Acme Corp.');
    expect(result.asked).toEqual([]);
    const sent = fake.chatRequests()[0]?.tools;
    expect(sent).toEqual((await gateway.listTools()).tools);
    const [toolResult] = fake.toolMessages();
    expect(toolResult?.content).toMatchObject({
      status: 'completed',
      data: {
        contacts: [
          {
            id: DEMO.acmeContactId,
            email: DEMO.acmeContactEmail,
            firstname: DEMO.acmeContactFirstname,
          },
        ],
      },
    });
  });

  it('sends a confirmed write to the gateway, which still holds it for a person', async () => {
    fake.script([
      { toolCalls: [{ name: 'create_note', arguments: NOTE }] },
      { text: 'The note is requested and waits for a person to approve it.' },
    ]);

    const result = await run('Note on Acme: renewal call done', 'u-yes', [true]);

    expect(result.asked).toEqual([{ name: 'create_note', arguments: NOTE }]);
    expect(result.answer).toBe('The note is requested and waits for a person to approve it.');
    expect(result.pending).toHaveLength(1);
    const write = result.pending[0];
    const [toolResult] = fake.toolMessages();
    expect(toolResult?.content).toMatchObject({
      status: 'pending_approval',
      request_id: write?.request_id,
      status_url: `${t.app.url}/v1/actions/${write?.request_id}`,
      instruction: expect.stringContaining('a person must approve'),
    });
    const records = (await t.audit()).filter((r) => r.user_id === 'u-yes');
    expect(records).toEqual([
      expect.objectContaining({
        action: 'create_note',
        outcome: 'pending_approval',
        response_status: 202,
        structured_action: {
          action: 'create_note',
          company_id: DEMO.acmeCompanyId,
          body: NOTE.body,
        },
      }),
    ]);
    expect((await gateway.getStatus(write?.request_id ?? '')).status).toBe('pending_approval');
    expect(t.app.emulator?.notes().some((n) => n.body === NOTE.body)).toBe(false);
  });

  it('never sends a declined write, and tells the model it was declined', async () => {
    const declined = { ...NOTE, body: 'Declined by the user: never sent.' };
    fake.script([
      { toolCalls: [{ name: 'create_note', arguments: declined }] },
      { text: 'Understood: I did not add the note.' },
    ]);

    const result = await run('Note on Acme: never mind', 'u-no', [false]);

    expect(result.asked).toEqual([{ name: 'create_note', arguments: declined }]);
    expect(result.answer).toBe('Understood: I did not add the note.');
    expect(result.pending).toEqual([]);
    expect(result.events).toEqual([{ type: 'confirmation', name: 'create_note', approved: false }]);
    const [toolResult] = fake.toolMessages();
    expect(toolResult?.content).toBe(DECLINED);
    expect(offline.fetched().filter((u) => u.endsWith('/v1/actions'))).toEqual([]);
    const records = await t.audit();
    expect(records.filter((r) => r.user_id === 'u-no')).toEqual([]);
    expect(
      records.filter(
        (r) => (r.structured_action as { body?: string } | null)?.body === declined.body,
      ),
    ).toEqual([]);
  });
});
