/**
 * `airlock rotate` (a new value from standard input: checked, stored, confirmed) and
 * `airlock emulator-token` (local demo only: a new emulator token, to pipe into rotate).
 * A secret is read from standard input only and never printed to a terminal.
 */
import { HUBSPOT_API } from '../../config/shared';
import { type Command, UsageError } from '../command';
import { type RotateWhich, type RotationResult, rotationText } from '../rotate';
import { readSecretLine } from '../secret-input';

/** What `--which` may name (every `RotateWhich`); locally only the HubSpot tokens. */
const ROTATABLE: readonly RotateWhich[] = ['read', 'write', 'slack-bot', 'slack-signing'];
const isRotatable = (which: string | undefined): which is RotateWhich =>
  ROTATABLE.includes(which as RotateWhich);

export const rotate: Command = async ({ values, io, print, target }) => {
  const which = values.which;
  if (!isRotatable(which)) {
    throw new UsageError('rotate needs --which read|write|slack-bot|slack-signing');
  }
  const t = target();
  if ('local' in t && (which === 'slack-bot' || which === 'slack-signing')) {
    throw new UsageError('Local mode has no Slack: rotate read or write.');
  }
  const token = (
    await readSecretLine(io.stdin, (text) => io.err(text), `New ${which} value (input hidden): `)
  ).trim();
  let result: RotationResult;
  if ('local' in t) {
    result = await t.local.rotate(which as 'read' | 'write', token);
  } else {
    result = await t.aws.rotate(which, token, values['hubspot-url'] ?? HUBSPOT_API);
  }
  print(rotationText(result), result);
  return result.ok ? 0 : 1;
};

export const emulatorToken: Command = async ({ values, io, target }) => {
  const which = values.which;
  if (which !== 'read' && which !== 'write') {
    throw new UsageError('emulator-token needs --which read|write');
  }
  const t = target();
  if (!('local' in t)) throw new UsageError('emulator-token works in local mode only (--local).');
  if (io.stdoutIsTTY) {
    throw new Error(
      'refusing to print a token to the terminal; pipe it: npx airlock --local emulator-token --which read | npx airlock --local rotate --which read',
    );
  }
  io.out(`${await t.local.emulatorToken(which)}\n`);
  return 0;
};
