import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Caller } from '../core/gateway';

export interface LocalKeys {
  apiKey: string;
  approverKey: string;
  /** The operator's key: kill switch, read-only mode, rotation (`npx airlock --local …`). */
  operatorKey: string;
  /** Which keys were generated on this start (and so must be shown to the user). */
  generated: { apiKey: boolean; approverKey: boolean; operatorKey: boolean };
}

export function newKey(prefix: string): string {
  return `${prefix}_${randomBytes(24).toString('base64url')}`;
}

/**
 * The agent's, the approver's and the operator's keys: from the environment, else from
 * `<data dir>/keys.json` (mode 0600), else generated and saved there.
 */
export async function loadKeys(
  dataDir: string,
  fromEnv: { apiKey?: string; approverKey?: string; operatorKey?: string },
): Promise<LocalKeys> {
  const file = keysFile(dataDir);
  let saved: { api_key?: string; approver_key?: string; operator_key?: string } = {};
  try {
    saved = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const generated = { apiKey: false, approverKey: false, operatorKey: false };
  let apiKey = fromEnv.apiKey ?? saved.api_key;
  let approverKey = fromEnv.approverKey ?? saved.approver_key;
  let operatorKey = fromEnv.operatorKey ?? saved.operator_key;
  if (!apiKey) {
    apiKey = newKey('ak');
    generated.apiKey = true;
  }
  if (!approverKey) {
    approverKey = newKey('apk');
    generated.approverKey = true;
  }
  if (!operatorKey) {
    operatorKey = newKey('opk');
    generated.operatorKey = true;
  }
  if (apiKey === approverKey) {
    throw new Error(
      'AIRLOCK_API_KEY and AIRLOCK_APPROVER_KEY must differ: an agent must never approve.',
    );
  }
  if (operatorKey === apiKey || operatorKey === approverKey) {
    throw new Error(
      'AIRLOCK_OPERATOR_KEY must differ from the agent and approver keys: only the operator may contain the gateway.',
    );
  }
  if (generated.apiKey || generated.approverKey || generated.operatorKey) {
    await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
    const next = {
      api_key: fromEnv.apiKey ? saved.api_key : apiKey,
      approver_key: fromEnv.approverKey ? saved.approver_key : approverKey,
      operator_key: fromEnv.operatorKey ? saved.operator_key : operatorKey,
    };
    await fs.writeFile(file, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
  }
  return { apiKey, approverKey, operatorKey, generated };
}

export function keysFile(dataDir: string): string {
  return path.join(dataDir, 'keys.json');
}

/** The operator's key for the CLI: the environment first, else the data directory's file. */
export async function readOperatorKey(dataDir: string): Promise<string | null> {
  if (process.env.AIRLOCK_OPERATOR_KEY) return process.env.AIRLOCK_OPERATOR_KEY;
  try {
    const saved = JSON.parse(await fs.readFile(keysFile(dataDir), 'utf8')) as {
      operator_key?: unknown;
    };
    return typeof saved.operator_key === 'string' ? saved.operator_key : null;
  } catch {
    return null;
  }
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Compares a presented key with the expected one in constant time. */
export function keyMatches(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

/**
 * Who presents `authorization` (`Bearer <key>`): the agent, the approver or the operator, or
 * null for anything else.
 */
export function callerOf(
  authorization: string | undefined,
  keys: Pick<LocalKeys, 'apiKey' | 'approverKey' | 'operatorKey'>,
): Caller | null {
  const match =
    typeof authorization === 'string' ? /^Bearer ([\x21-\x7e]{1,512})$/.exec(authorization) : null;
  if (!match?.[1]) return null;
  // Every comparison always runs, so timing tells nothing about which key was close.
  const isAgent = keyMatches(match[1], keys.apiKey);
  const isApprover = keyMatches(match[1], keys.approverKey);
  const isOperator = keyMatches(match[1], keys.operatorKey);
  if (isAgent) return { id: 'local-agent-key', role: 'agent' };
  if (isApprover) return { id: 'local-approver-key', role: 'approver' };
  if (isOperator) return { id: 'local-operator-key', role: 'operator' };
  return null;
}
