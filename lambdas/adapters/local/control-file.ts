import { promises as fs } from 'node:fs';
import type { ControlSnapshot, ControlSwitch } from '../../core/ports';

type State = { contained: boolean; readOnly: boolean };

interface FileShape {
  contained?: unknown;
  read_only?: unknown;
  changed_at?: unknown;
  changed_by?: unknown;
  reason?: unknown;
}

/**
 * Kill switch and read-only mode for local mode, kept in `<data dir>/control.json`
 * (`{"contained": true, "read_only": false, "changed_at": …, "changed_by": …}`). The file is
 * read again at most every `maxAgeMs` (default 250 ms), so a change made by another process
 * takes effect within that, and one made through {@link set} at once. A file that exists but
 * cannot be read or parsed counts as contained: when in doubt, the gateway fails closed.
 */
export class ControlFile implements ControlSwitch {
  private cached: { state: ControlSnapshot; at: number } | null = null;

  constructor(
    private readonly file: string,
    private readonly maxAgeMs = 250,
  ) {}

  async read(): Promise<State> {
    const { contained, readOnly } = await this.cachedSnapshot();
    return { contained, readOnly };
  }

  async snapshot(): Promise<ControlSnapshot> {
    this.cached = null;
    return this.cachedSnapshot();
  }

  private async cachedSnapshot(): Promise<ControlSnapshot> {
    const now = Date.now();
    if (this.cached && now - this.cached.at < this.maxAgeMs) return this.cached.state;
    const state = await this.readFile();
    this.cached = { state, at: now };
    return state;
  }

  private async readFile(): Promise<ControlSnapshot> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        return { contained: false, readOnly: false };
      return { contained: true, readOnly: true, reason: 'the control file cannot be read' };
    }
    try {
      const s = JSON.parse(text) as FileShape;
      return {
        contained: s.contained === true,
        readOnly: s.read_only === true,
        ...(typeof s.changed_at === 'string' ? { changedAt: s.changed_at } : {}),
        ...(typeof s.changed_by === 'string' ? { changedBy: s.changed_by } : {}),
        ...(typeof s.reason === 'string' ? { reason: s.reason } : {}),
      };
    } catch {
      return { contained: true, readOnly: true, reason: 'the control file is not valid JSON' };
    }
  }

  async set(next: ControlSnapshot & { changedAt: string; changedBy: string }): Promise<void> {
    this.cached = null;
    const tmp = `${this.file}.${process.pid}.tmp`;
    const body = {
      contained: next.contained,
      read_only: next.readOnly,
      changed_at: next.changedAt,
      changed_by: next.changedBy,
      reason: next.reason ?? null,
    };
    await fs.writeFile(tmp, `${JSON.stringify(body)}\n`, { mode: 0o600 });
    await fs.rename(tmp, this.file);
    this.cached = null;
  }

  /** Sets the switch without naming who did it (tests and scripts). */
  async write(state: State): Promise<void> {
    await this.set({ ...state, changedAt: new Date().toISOString(), changedBy: 'local' });
  }
}
