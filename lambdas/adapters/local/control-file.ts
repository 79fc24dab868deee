import { randomBytes } from 'node:crypto';
import { promises as fs, statSync } from 'node:fs';
import type { ControlChange, ControlSnapshot, ControlSwitch } from '../../core/ports';

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
 *
 * The sets of one process run one at a time, each reading the file afresh and replacing it
 * whole (a uniquely named temporary file, renamed over it), so concurrent changes to different
 * flags both hold. Only one process (the running gateway, or the CLI while it is stopped) sets
 * the switch at a time.
 */
export class ControlFile implements ControlSwitch {
  private cached: { state: ControlSnapshot; at: number } | null = null;
  /** The last set queued: the next one starts after it settles. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly file: string,
    private readonly maxAgeMs = 250,
  ) {}

  async read(): Promise<State> {
    const { contained, readOnly } = await this.cachedSnapshot();
    return { contained, readOnly };
  }

  /**
   * The file as it is now, uncached (where data leaves, and right before a write): a `contain`
   * that has answered is seen, whichever process made it. It leaves the cache alone, so a read
   * racing a set can never cache an older state through it. A file that cannot be read or
   * parsed counts as contained, as in {@link read}.
   */
  async fresh(): Promise<State> {
    // One stat instead of opening and parsing the file on every read: a file that is the same
    // (inode, size, modification time in ns; a set replaces the inode) says the same thing.
    // A stat is a few microseconds, cheaper in line than a trip through the thread pool.
    let key: string | null;
    try {
      const st = statSync(this.file, { bigint: true, throwIfNoEntry: false });
      key = st ? `${st.ino}:${st.size}:${st.mtimeNs}` : 'absent';
    } catch {
      key = null;
    }
    if (key !== null && this.freshMemo?.key === key) return this.freshMemo.state;
    const { contained, readOnly } = await this.readFile();
    this.freshMemo = key === null ? null : { key, state: { contained, readOnly } };
    return { contained, readOnly };
  }

  /** The last uncached read, by the file's identity. */
  private freshMemo: { key: string; state: State } | null = null;

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

  async set(change: ControlChange): Promise<ControlSnapshot> {
    const applied = this.queue.then(() => this.apply(change));
    this.queue = applied.catch(() => undefined);
    return applied;
  }

  private async apply(change: ControlChange): Promise<ControlSnapshot> {
    this.cached = null;
    this.freshMemo = null;
    const current = await this.readFile();
    const next: ControlSnapshot = {
      contained: change.contained ?? current.contained,
      readOnly: change.readOnly ?? current.readOnly,
      changedAt: change.changedAt,
      changedBy: change.changedBy,
      reason: change.reason ?? null,
    };
    const body = {
      contained: next.contained,
      read_only: next.readOnly,
      changed_at: next.changedAt,
      changed_by: next.changedBy,
      reason: next.reason,
    };
    const tmp = `${this.file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await fs.writeFile(tmp, `${JSON.stringify(body)}\n`, { mode: 0o600 });
      await fs.rename(tmp, this.file);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    } finally {
      this.cached = null;
    }
    return next;
  }

  /** Sets the switch without naming who did it (tests and scripts). */
  async write(state: State): Promise<void> {
    await this.set({ ...state, changedAt: new Date().toISOString(), changedBy: 'local' });
  }
}
