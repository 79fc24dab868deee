import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { waitForOutput } from '../helpers/process';

const ROOT = join(__dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

describe('npm run emulator (lambdas/emulator/main.ts)', () => {
  it('serves on PORT with tokens from the environment and stops cleanly on SIGTERM', async () => {
    const readToken = 'pat-na1-main-read-token-abc';
    const child = spawn(TSX, ['lambdas/emulator/main.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: '0',
        HUBSPOT_EMULATOR_READ_TOKEN: readToken,
        HUBSPOT_EMULATOR_WRITE_TOKEN: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const output = await waitForOutput(child, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
      expect(output).toContain('HUBSPOT_EMULATOR_WRITE_TOKEN is not set');
      expect(output).not.toContain('HUBSPOT_EMULATOR_READ_TOKEN is not set');

      const ok = await fetch(`${url}/crm/v3/objects/companies/search`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${readToken}`, 'Content-Type': 'application/json' },
        body: '{}',
      });
      expect(ok.status).toBe(200);

      const exited = new Promise<number | null>((resolve) =>
        child.once('exit', (code) => resolve(code)),
      );
      let rest = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        rest += chunk.toString();
      });
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(`${output}${rest}`).not.toContain(readToken);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
