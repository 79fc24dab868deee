/**
 * The CLI's local side: operator routes of the running `npm start` (with the operator key from
 * the data directory), and the audit log read straight from disk (so `verify` and `export`
 * work even while the gateway is stopped).
 */
import path from 'node:path';
import { verifyLocalWindow } from '../adapters/local/audit-verify';
import type { ControlCommand, ControlResult } from '../core/operator';
import { readOperatorKey } from '../local/keys';
import type { Evidence, StatusView } from './results';
import type { RotationResult } from './rotate';
import type { TimeWindow } from './time-window';

export interface LocalOps {
  url: string;
  dataDir: string;
  status(): Promise<StatusView>;
  control(
    command: ControlCommand,
    reason: string | null,
  ): Promise<{ kind: 'online'; body: ControlResult } | { kind: 'offline' }>;
  rotate(which: 'read' | 'write', token: string): Promise<RotationResult>;
  /** The window, with the whole log verified (`allowStaleHead`: see `VerifyOptions`). */
  evidence(window: TimeWindow, options?: { allowStaleHead?: boolean }): Promise<Evidence>;
  emulatorToken(which: 'read' | 'write'): Promise<string>;
}

class Offline extends Error {}

export function localOps(options: {
  url: string;
  dataDir: string;
  env: NodeJS.ProcessEnv;
}): LocalOps {
  const { url, dataDir } = options;
  const call = async (
    method: 'GET' | 'POST',
    route: string,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }> => {
    const key = await readOperatorKey(dataDir);
    if (!key) {
      throw new Error(
        `No operator key: start the gateway once (npm start) so it writes ${path.join(dataDir, 'keys.json')}, or set AIRLOCK_OPERATOR_KEY.`,
      );
    }
    let res: Response;
    try {
      res = await fetch(`${url}${route}`, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
    } catch {
      throw new Offline(`The gateway at ${url} is not answering.`);
    }
    const text = await res.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new Error(`The gateway answered ${res.status} with a body that is not JSON.`);
    }
    return { status: res.status, body: parsed };
  };
  const ok = (answer: { status: number; body: Record<string, unknown> }) => {
    if (answer.status >= 400) {
      const e = answer.body.error as { code?: string; message?: string } | undefined;
      throw new Error(`${answer.status} ${e?.code ?? 'error'}: ${e?.message ?? 'refused'}`);
    }
    return answer.body;
  };

  return {
    url,
    dataDir,
    async status() {
      const body = ok(await call('GET', '/operator/status')) as unknown as {
        control: StatusView['control'];
        pending: StatusView['pending'];
        last_hour: StatusView['last_hour'] & {
          alarms: { id: string; state: string; value: number; threshold: number }[];
        };
      };
      return {
        where: `local, ${url}`,
        control: body.control,
        pending: body.pending,
        alarms: body.last_hour.alarms.map((a) => ({
          id: a.id,
          state: a.state,
          detail: `${a.value} against a threshold of ${a.threshold}`,
        })),
        last_hour: body.last_hour,
      };
    },
    async control(command, reason) {
      try {
        const body = ok(await call('POST', '/operator/control', { command, reason }));
        return { kind: 'online', body: body as unknown as ControlResult };
      } catch (err) {
        if (err instanceof Offline) return { kind: 'offline' };
        throw err;
      }
    },
    async rotate(which, token) {
      const answer = await call('POST', '/operator/rotate', { which, token });
      if (answer.status >= 400 && !Array.isArray(answer.body.steps)) ok(answer);
      return answer.body as unknown as RotationResult;
    },
    async evidence(window, options = {}) {
      return verifyLocalWindow(path.join(dataDir, 'audit'), window, options);
    },
    async emulatorToken(which) {
      const body = ok(await call('POST', '/operator/emulator-token', { which }));
      if (typeof body.token !== 'string') throw new Error('The gateway returned no token.');
      return body.token;
    },
  };
}
