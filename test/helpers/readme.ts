import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The README as committed. */
export const README = readFileSync(path.join(__dirname, '../../README.md'), 'utf8');

/** The text between `<!-- name:start -->` and `<!-- name:end -->` in the README. */
export function block(name: string): string {
  const match = new RegExp(`<!-- ${name}:start -->\\n([\\s\\S]*?)\\n<!-- ${name}:end -->`).exec(
    README,
  );
  return match?.[1] ?? '';
}

/** A Markdown table as rows of trimmed cells, so that column padding does not matter. */
export function cells(table: string): string[][] {
  return table
    .trim()
    .split('\n')
    .map((line) =>
      line
        .trim()
        .replace(/^\||\|$/g, '')
        .split(/(?<!\\)\|/)
        .map((c) => (/^\s*:?-+:?\s*$/.test(c) ? '---' : c.trim())),
    );
}
