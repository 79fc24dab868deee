/**
 * Reading a secret from standard input for the operator commands (`token:set`, `rotate`): from a
 * pipe, or from the terminal with echo off. Never from an argument: arguments show in `ps` and
 * in shell history.
 */

/** Standard input, or a stream standing in for it in tests. */
export type SecretInput = NodeJS.ReadableStream & {
  isTTY?: boolean;
  setRawMode?: (raw: boolean) => unknown;
};

const CTRL_C = String.fromCharCode(3);
const BACKSPACE = /[\b\x7f]/;

/**
 * Reads one line. On a terminal, with echo off (raw mode): Enter ends the line, Backspace
 * removes the last character, Ctrl-C cancels (throws `cancelled`). From a pipe, reads it all
 * and drops one trailing line break, so a second line stays visible to the caller's check.
 */
export async function readSecretLine(
  input: SecretInput,
  write: (text: string) => void,
  prompt = 'Secret (input hidden): ',
): Promise<string> {
  const tty = input.isTTY === true && typeof input.setRawMode === 'function';
  if (tty) {
    write(prompt);
    input.setRawMode?.(true);
  }
  let text = '';
  try {
    if (tty) {
      let done = false;
      for await (const chunk of input) {
        for (const ch of chunk.toString()) {
          if (ch === CTRL_C) throw new Error('cancelled');
          if (ch === '\r' || ch === '\n') {
            done = true;
            break;
          }
          text = BACKSPACE.test(ch) ? text.slice(0, -1) : text + ch;
        }
        if (done) break;
      }
    } else {
      for await (const chunk of input) text += chunk.toString();
    }
  } finally {
    if (tty) {
      input.setRawMode?.(false);
      write('\n');
    }
  }
  if (text.includes(CTRL_C)) throw new Error('cancelled');
  return text.replace(/\r?\n$/, '').replace(/\r$/, '');
}

/** One line of 8 to 1024 printable ASCII characters without spaces: any token or secret we store. */
export function isTokenShaped(value: string): boolean {
  return /^[\x21-\x7e]{8,1024}$/.test(value);
}

/**
 * Reads a token with {@link readSecretLine} and checks its shape; throws, naming the problem but
 * never the value, when it is not one line of printable characters.
 */
export async function readTokenLine(
  input: SecretInput,
  write: (text: string) => void,
  prompt?: string,
): Promise<string> {
  const token = (await readSecretLine(input, write, prompt)).trim();
  if (!isTokenShaped(token)) {
    throw new Error(
      'That is not a token: expected one line of 8 to 1024 printable characters without spaces. Nothing was stored.',
    );
  }
  return token;
}
