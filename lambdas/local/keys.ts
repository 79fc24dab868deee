import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

export interface LocalKeys {
  apiKey: string;
  approverKey: string;
  /** Which keys were generated on this start (and so must be shown to the user). */
  generated: { apiKey: boolean; approverKey: boolean };
}

export function newKey(prefix: string): string {
  return `${prefix}_${randomBytes(24).toString('base64url')}`;
}

/**
 * The agent's key and the approver's key: from the environment, else from
 * `<data dir>/keys.json` (mode 0600), else generated and saved there.
 */
export async function loadKeys(
  dataDir: string,
  fromEnv: { apiKey?: string; approverKey?: string },
): Promise<LocalKeys> {
  const file = path.join(dataDir, 'keys.json');
  let saved: { api_key?: string; approver_key?: string } = {};
  try {
    saved = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const generated = { apiKey: false, approverKey: false };
  let apiKey = fromEnv.apiKey ?? saved.api_key;
  let approverKey = fromEnv.approverKey ?? saved.approver_key;
  if (!apiKey) {
    apiKey = newKey('ak');
    generated.apiKey = true;
  }
  if (!approverKey) {
    approverKey = newKey('apk');
    generated.approverKey = true;
  }
  if (apiKey === approverKey) {
    throw new Error(
      'AIRLOCK_API_KEY and AIRLOCK_APPROVER_KEY must differ: an agent must never approve.',
    );
  }
  if (generated.apiKey || generated.approverKey) {
    await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
    const next = {
      api_key: fromEnv.apiKey ? saved.api_key : apiKey,
      approver_key: fromEnv.approverKey ? saved.approver_key : approverKey,
    };
    await fs.writeFile(file, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
  }
  return { apiKey, approverKey, generated };
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Compares a presented key with the expected one in constant time. */
export function keyMatches(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}
