/**
 * `npm start`: the local gateway, with the HubSpot emulator (or the real HubSpot when
 * HUBSPOT_TOKEN is set), the approval page and a hash-chained audit log.
 */
import { actionNames, exampleAction, tokenScopes } from '../core/catalog';
import { startLocalApp } from './app';
import { loadConfig } from './config';

function banner(app: Awaited<ReturnType<typeof startLocalApp>>): string {
  const key = app.keys.apiKey;
  // The catalog's examples, made against the demo CRM; against a real HubSpot, the ids are the
  // user's to fill in.
  const example = (kind: 'read' | 'write') => {
    const action = exampleAction(kind) ?? {};
    if (app.hubspot.kind === 'emulator') return action;
    return Object.fromEntries(
      Object.entries(action).map(([k, v]) => [k, k.endsWith('_id') ? `<${k.slice(0, -3)} id>` : v]),
    );
  };
  const read = JSON.stringify({
    user_id: 'u-42',
    agent_prompt: 'Find the last email interaction for Acme Corp.',
    action: example('read'),
  });
  const write = JSON.stringify({
    user_id: 'u-42',
    agent_prompt: 'Log that I called Jane about the renewal.',
    action: example('write'),
  });
  const hubspot =
    app.hubspot.kind === 'emulator'
      ? `HubSpot emulator (demo CRM) at ${app.hubspot.url}`
      : `HubSpot at ${app.hubspot.url} (your token)`;
  const keyNote = (generated: boolean) => (generated ? ' (generated; saved in the data dir)' : '');
  return `
CRM Airlock is running (local mode)

  Gateway        ${app.url}
  HubSpot        ${hubspot}
  Approval page  ${app.url}/approvals
  Data dir       ${app.dataDir}  (audit log: ${app.auditDir})

  Agent key      ${key}${keyNote(app.keys.generated.apiKey)}
  Approver key   ${app.keys.approverKey}${keyNote(app.keys.generated.approverKey)}
                 (paste it into the approval page; never give it to the agent)

Try a read:

  curl -s ${app.url}/v1/actions -H 'Authorization: Bearer ${key}' -H 'Content-Type: application/json' \\
    -d '${read}'

Try a write (it waits for approval on the page above):

  curl -s ${app.url}/v1/actions -H 'Authorization: Bearer ${key}' -H 'Content-Type: application/json' \\
    -d '${write}'

Tools for OpenAI function calling:  curl -s ${app.url}/v1/tools -H 'Authorization: Bearer ${key}'
Verify the audit log:               npm run audit:verify
Incident response:                  npx airlock --local status   (docs/RUNBOOK.md)
Stop with Ctrl-C.
`;
}

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  }
  const app = await startLocalApp(config);
  if (config.hubspot.kind === 'remote' && config.hubspot.writeToken === null) {
    process.stderr.write(
      `Note: HUBSPOT_WRITE_TOKEN is not set, so writes (${actionNames('write').join(', ')}) are refused with 403. Give writes their own token with exactly ${tokenScopes().write.join(', ')}.\n`,
    );
  }
  process.stdout.write(banner(app));

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(
      `\n${signal}: finishing requests in flight and closing the audit log...\n`,
    );
    app.close().then(
      () => {
        process.stdout.write('Stopped cleanly.\n');
        process.exit(0);
      },
      (err: unknown) => {
        process.stderr.write(
          `Stopping failed: ${err instanceof Error ? err.message : String(err)}\n`,
        );
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`Could not start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
