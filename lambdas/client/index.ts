/** The CRM Airlock client for agent backends (see README, "Connect an OpenAI agent"). */

export type { OpenAiTool } from '../core/catalog';
export {
  type ActionContext,
  type ActionInput,
  type ActionResult,
  AirlockApiError,
  AirlockClient,
  type AirlockClientOptions,
  type ClientAuth,
  type PendingWrite,
  type ReadResult,
  type ToolList,
  type WriteStatus,
  type WriteStatusValue,
} from './client';
