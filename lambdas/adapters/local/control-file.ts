import { promises as fs } from 'node:fs';
import type { ControlState } from '../../core/ports';

/**
 * Kill switch and read-only mode for local mode, kept in `<data dir>/control.json`
 * (`{"contained": true, "read_only": false}`). It is read on every request, so a change takes
 * effect at once. A file that exists but cannot be read or parsed counts as contained:
 * when in doubt, the gateway fails closed.
 */
export class ControlFile implements ControlState {
  constructor(private readonly file: string) {}

  async read(): Promise<{ contained: boolean; readOnly: boolean }> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        return { contained: false, readOnly: false };
      return { contained: true, readOnly: true };
    }
    try {
      const state = JSON.parse(text) as { contained?: unknown; read_only?: unknown };
      return { contained: state.contained === true, readOnly: state.read_only === true };
    } catch {
      return { contained: true, readOnly: true };
    }
  }

  async write(state: { contained: boolean; readOnly: boolean }): Promise<void> {
    const tmp = `${this.file}.${process.pid}.tmp`;
    await fs.writeFile(
      tmp,
      `${JSON.stringify({ contained: state.contained, read_only: state.readOnly })}\n`,
      { mode: 0o600 },
    );
    await fs.rename(tmp, this.file);
  }
}
