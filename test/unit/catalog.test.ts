import { CATALOG, exampleAction, openAiTools } from '../../lambdas/core/catalog';
import { AirlockError } from '../../lambdas/core/errors';
import { actionHash } from '../../lambdas/core/hash';
import { validateAction } from '../../lambdas/core/validate';
import { DEMO } from '../../lambdas/emulator/seed';
import { codeOf } from '../helpers/error-code';

describe('the action catalog', () => {
  it('declares the four actions of the design, one read/write kind and scopes each', () => {
    expect(CATALOG.map((a) => [a.name, a.kind])).toEqual([
      ['search_contact', 'read'],
      ['search_company', 'read'],
      ['get_last_email_interaction', 'read'],
      ['create_note', 'write'],
    ]);
    expect(CATALOG.find((a) => a.name === 'create_note')?.scopes).toEqual([
      'crm.objects.contacts.write',
    ]);
  });

  it('renders OpenAI tools in strict mode: every property required, optional ones nullable, no extras', () => {
    const tools = openAiTools();
    expect(tools).toHaveLength(4);
    for (const tool of tools) {
      const params = tool.function.parameters as {
        properties: Record<string, { type: unknown }>;
        required: string[];
        additionalProperties: boolean;
      };
      expect(tool.type).toBe('function');
      expect(tool.function.strict).toBe(true);
      expect(params.additionalProperties).toBe(false);
      expect([...params.required].sort()).toEqual(Object.keys(params.properties).sort());
      expect(Object.keys(params.properties)).not.toContain('action');
    }
    const contact = tools.find((t) => t.function.name === 'search_contact')?.function
      .parameters as {
      properties: Record<string, Record<string, unknown>>;
    };
    expect(contact.properties.email?.type).toEqual(['string', 'null']);
    expect(contact.properties.limit).toMatchObject({
      type: ['integer', 'null'],
      minimum: 1,
      maximum: 10,
    });
    const note = tools.find((t) => t.function.name === 'create_note')?.function.parameters as {
      properties: Record<string, Record<string, unknown>>;
    };
    expect(note.properties.body?.type).toBe('string');
  });

  it('accepts a valid action and drops null members, as OpenAI strict mode sends them', () => {
    expect(
      validateAction({
        action: 'search_contact',
        email: null,
        name: ' Jane ',
        company: null,
        limit: null,
      }),
    ).toEqual({ action: 'search_contact', name: 'Jane' });
  });

  it('binds the same action to the same hash whatever the key order', () => {
    const a = validateAction({ action: 'create_note', company_id: '51', body: 'Hello' });
    const b = validateAction({ body: 'Hello', company_id: '51', action: 'create_note' });
    expect(actionHash(a)).toBe(actionHash(b));
    expect(actionHash(a)).not.toBe(
      actionHash(validateAction({ action: 'create_note', company_id: '52', body: 'Hello' })),
    );
  });

  it.each([
    [{ action: 'delete_contact', id: '1' }, 'unknown_action'],
    [{ action: 'search_contact' }, 'validation_failed'],
    [{ action: 'search_contact', email: 'jane@acme.com', phone: '555' }, 'validation_failed'],
    [{ action: 'search_contact', email: 'not-an-email' }, 'validation_failed'],
    [{ action: 'search_contact', name: 42 }, 'validation_failed'],
    [{ action: 'search_contact', name: 'Jane', limit: 2.5 }, 'validation_failed'],
    [{ action: 'search_contact', name: 'Jane', limit: 0 }, 'validation_failed'],
    [{ action: 'search_contact', name: 'Jane\u0000' }, 'validation_failed'],
    [{ action: 'search_contact', name: 'Ja\u200bne' }, 'validation_failed'],
    [{ action: 'search_company', domain: 'not a domain' }, 'validation_failed'],
    [{ action: 'get_last_email_interaction' }, 'validation_failed'],
    [
      { action: 'get_last_email_interaction', company: 'Acme', contact_email: 'a@acme.com' },
      'validation_failed',
    ],
    [{ action: 'create_note', body: 'x' }, 'validation_failed'],
    [{ action: 'create_note', contact_id: '1', company_id: '2', body: 'x' }, 'validation_failed'],
    [{ action: 'create_note', contact_id: '12a', body: 'x' }, 'validation_failed'],
    [{ action: 'create_note', contact_id: '12', body: '' }, 'validation_failed'],
    [{ action: 'create_note', contact_id: '12', body: 'a'.repeat(2001) }, 'validation_failed'],
    [{ action: 'create_note', contact_id: '12', body: 'bell\u0007' }, 'validation_failed'],
    [{ action: 'search_contact', name: 'Jane', limit: 11 }, 'bulk_request_rejected'],
    [{ action: 'search_company', name: 'Acme', after: '100' }, 'bulk_request_rejected'],
  ])('refuses %j with %s', (action, code) => {
    expect(codeOf(() => validateAction(action))).toBe(code);
  });

  it('keeps new lines in a note body, which approvers see as written', () => {
    expect(
      validateAction({ action: 'create_note', contact_id: '7', body: 'line 1\nline 2' }),
    ).toEqual({
      action: 'create_note',
      contact_id: '7',
      body: 'line 1\nline 2',
    });
  });

  it('says which parameter is wrong and what to send instead', () => {
    try {
      validateAction({ action: 'create_note', contact_id: 'abc', body: 'x' });
      throw new Error('expected a refusal');
    } catch (err) {
      expect(err).toBeInstanceOf(AirlockError);
      const details = (err as AirlockError).details as { path: string; message: string }[];
      expect(details[0]).toEqual({
        path: 'contact_id',
        message: 'contact_id must be a HubSpot record id: digits only, e.g. "51"',
      });
    }
  });

  it('declares what each derived surface needs, consistently', () => {
    for (const a of CATALOG) {
      const params = Object.keys(a.params.shape);
      // The bulk guards' parameters are parameters of a read.
      for (const p of a.queryParams) expect(params).toContain(p);
      if (a.kind === 'write') {
        expect(a.queryParams).toEqual([]);
        // The MCP annotations of a write say what it does.
        expect(a.effects).toEqual({
          destructive: expect.any(Boolean),
          idempotent: expect.any(Boolean),
        });
        expect(a.listedAs).toBeUndefined();
      } else {
        expect(a.effects).toBeUndefined();
        expect(a.approvalHeading).toBeUndefined();
      }
      expect(new Set(a.returns).size).toBe(a.returns.length);
    }
  });

  it('gives examples that validate, the write one on a company of the demo CRM', () => {
    const read = exampleAction('read');
    const write = exampleAction('write');
    expect(read && validateAction(read)).toEqual(read);
    expect(write && validateAction(write)).toEqual(write);
    expect(write?.company_id).toBe(DEMO.acmeCompanyId);
    for (const a of CATALOG) {
      if (a.example) expect(validateAction({ action: a.name, ...a.example })).toBeDefined();
    }
  });
});
