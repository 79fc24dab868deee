/**
 * `npm run emulator`: the HubSpot emulator on its own, for poking at it or pointing a gateway at it.
 *
 * Env: PORT (default 8788), HUBSPOT_EMULATOR_READ_TOKEN, HUBSPOT_EMULATOR_WRITE_TOKEN. A token
 * left unset is generated at random for this run and never printed: set the variables to share
 * tokens with another process.
 */

import { randomBytes } from 'node:crypto';
import { tokenScopes } from '../core/catalog';
import { startEmulator } from './server';

const DEFAULT_PORT = 8788;

function parsePort(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return DEFAULT_PORT;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`PORT must be an integer between 0 and 65535; got ${JSON.stringify(raw)}.`);
  }
  return port;
}

function tokenFromEnv(name: string, log: (line: string) => void): string {
  const value = process.env[name]?.trim();
  if (value) return value;
  log(`${name} is not set: generated a random token for this run (not printed).`);
  return `emu-${randomBytes(24).toString('hex')}`;
}

async function main(): Promise<void> {
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const port = parsePort(process.env.PORT);
  const readToken = tokenFromEnv('HUBSPOT_EMULATOR_READ_TOKEN', log);
  const writeToken = tokenFromEnv('HUBSPOT_EMULATOR_WRITE_TOKEN', log);
  if (readToken === writeToken) {
    throw new Error('HUBSPOT_EMULATOR_READ_TOKEN and HUBSPOT_EMULATOR_WRITE_TOKEN must differ.');
  }
  // Each token gets exactly the scopes the gateway's token of that kind needs (the catalog's).
  const scopes = tokenScopes();
  const emulator = await startEmulator({
    port,
    tokens: { [readToken]: scopes.read, [writeToken]: scopes.write },
  });
  log(`HubSpot emulator listening on ${emulator.url}`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log(`${signal} received, stopping.`);
    emulator.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `HubSpot emulator failed to start: ${error instanceof Error ? error.message : 'unknown error'}\n`,
  );
  process.exit(1);
});
