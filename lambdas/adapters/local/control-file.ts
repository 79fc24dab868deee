import { promises as fs } from 'node:fs';
import type { ControlState } from '../../core/ports';

type State = { contained: boolean; readOnly: boolean };

/**
 * Kill switch and read-only mode for local mode, kept in `<data dir>/control.json`
 * (`{"contained": true, "read_only": false}`). The file is read again at most every
 * `maxAgeMs` (default 250 ms), so a change made by another process takes effect within that,
 * and one made through {@link write} at once. A file that exists but cannot be read or parsed
 * counts as contained: when in doubt, the gateway fails closed.
 */
export class ControlFile implements ControlState {
  private cached: { state: State; at: number } | null = null;

  constructor(
    private readonly file: string,
    private readonly maxAgeMs = 250,
  ) {}

  async read(): Promise<State> {
    const now = Date.now();
    if (this.cached && now - this.cached.at < this.maxAgeMs) return this.cached.state;
    const state = await this.readFile();
    this.cached = { state, at: now };
    return state;
  }

  private async readFile(): Promise<State> {
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

  async write(state: State): Promise<void> {
    this.cached = null;
    const tmp = `${this.file}.${process.pid}.tmp`;
    await fs.writeFile(
      tmp,
      `${JSON.stringify({ contained: state.contained, read_only: state.readOnly })}\n`,
      { mode: 0o600 },
    );
    await fs.rename(tmp, this.file);
    this.cached = null;
  }
}
