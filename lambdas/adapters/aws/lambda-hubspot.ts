import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { AirlockError } from '../../core/errors';
import type {
  CallContext,
  CrmRecord,
  HubSpotPort,
  NoteInput,
  SearchableObject,
  SearchRequest,
} from '../../core/ports';
import type { HubSpotCallResult, SearchInvocation } from './hubspot-call-protocol';

/**
 * HubSpot as the validation function sees it: a synchronous invocation of the HubSpot-call
 * function, which alone can read the HubSpot token. It has no write path (docs/ARCHITECTURE.md, "Security invariants").
 */
export class LambdaHubSpot implements HubSpotPort {
  constructor(
    private readonly client: LambdaClient,
    private readonly functionName: string,
  ) {}

  async search(
    object: SearchableObject,
    request: SearchRequest,
    ctx: CallContext,
  ): Promise<CrmRecord[]> {
    const invocation: SearchInvocation = { op: 'search', object, request, deadline: ctx.deadline };
    let result: HubSpotCallResult;
    try {
      const out = await this.client.send(
        new InvokeCommand({
          FunctionName: this.functionName,
          Payload: Buffer.from(JSON.stringify(invocation)),
        }),
      );
      if (out.FunctionError) throw new Error(`HubSpot-call function error: ${out.FunctionError}`);
      result = JSON.parse(
        Buffer.from(out.Payload ?? new Uint8Array()).toString('utf8'),
      ) as HubSpotCallResult;
    } catch (cause) {
      throw new AirlockError('hubspot_error', 'The HubSpot call failed. Retry later.', { cause });
    }
    ctx.calls.push(...result.calls);
    if (!result.ok) {
      throw new AirlockError(result.error.code, result.error.message, {
        retryAfterSeconds: result.error.retryAfterSeconds,
        hubspotStatus: result.error.hubspotStatus,
        details: result.error.details,
      });
    }
    return result.records;
  }

  async createNote(_input: NoteInput, _ctx: CallContext): Promise<string> {
    throw new AirlockError(
      'internal_error',
      'The validation function has no write path: writes run only in the approval flow.',
    );
  }
}
