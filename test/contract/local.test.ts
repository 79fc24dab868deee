import { readAuditLog } from '../../lambdas/adapters/local/audit-verify';
import { startTestApp } from '../helpers/local-app';
import { describeContract } from './cases';

describeContract('the contract, served by the local server', async () => {
  const t = await startTestApp(
    { AIRLOCK_REQUEST_DEADLINE_MS: '1500' },
    { emulatorRateLimits: { perTenSeconds: 1e6, searchPerSecond: 1e6 } },
  );
  const emulator = t.app.emulator;
  const [, , readToken, writeToken] = t.app.secrets();
  if (!emulator || !readToken || !writeToken) throw new Error('the local app runs an emulator');
  return {
    emulator,
    readToken,
    writeToken,
    async send(req) {
      const res = await fetch(`${t.app.url}${req.path}`, {
        method: req.method,
        headers: {
          authorization: `Bearer ${t.app.keys.apiKey}`,
          ...(req.body !== undefined
            ? { 'content-type': req.contentType ?? 'application/json' }
            : {}),
        },
        body: req.body,
      });
      const headers: Record<string, string> = {};
      res.headers.forEach((v, k) => {
        headers[k] = v;
      });
      return { status: res.status, headers, body: (await res.json()) as Record<string, unknown> };
    },
    auditCount: async () => (await readAuditLog(t.app.auditDir)).length,
    close: () => t.close(),
  };
});
