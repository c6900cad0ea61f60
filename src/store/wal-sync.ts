// Flushes the database's WAL file to disk in the background, off the event loop, while qbg writes.
//
// With synchronous=NORMAL in WAL mode (src/store/db.ts) a COMMIT only writes its frames into the OS page cache; the
// flush to disk comes at the next checkpoint, which SQLite runs INSIDE whichever COMMIT pushes the WAL past 1,000
// pages: that request first fsyncs the whole WAL (every frame written since the last checkpoint goes to disk
// then), copies the pages into the database file and fsyncs that. Measured on this host (ext4 on virtio): 100
// commits' worth of WAL checkpointed in ~10 ms, of which ~2/3 was the WAL's fsync; ~25 ms stalls of a single
// associate every ~50 associates. An fdatasync of the WAL on libuv's thread pool shortly after each burst of
// commits leaves the checkpoint's own fsync almost nothing to write. It only ever adds syncs: what SQLite
// syncs, when, and so what a crash or power loss can cost, stays exactly as before.
import { close, fdatasync, openSync } from 'node:fs';

export interface WalSyncOptions {
  /** How long after a commit the WAL is flushed (commits within it share one flush). Default 20 ms. */
  delayMs?: number;
}

export class WalSync {
  private readonly walPath: string;
  private readonly delayMs: number;
  private fd?: number;
  private timer?: NodeJS.Timeout;
  /** A flush is running on the thread pool; `again`: a commit came meanwhile. */
  private running?: Promise<void>;
  private again = false;
  private closed = false;
  /** Flushes done (for tests and the benchmark's notes). */
  flushes = 0;

  /** `dbPath`: the database file (its WAL is `${dbPath}-wal`). ":memory:" and URIs have none: nothing is done. */
  constructor(dbPath: string, opts: WalSyncOptions = {}) {
    this.walPath = dbPath === ':memory:' || dbPath.startsWith('file:') ? '' : `${dbPath}-wal`;
    this.delayMs = Math.max(0, opts.delayMs ?? 20);
  }

  /** A transaction committed: flush the WAL soon. Cheap and never throws (a failed flush is only a lost hint). */
  committed(): void {
    if (this.closed || !this.walPath) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), this.delayMs);
    this.timer.unref(); // a hint must not keep the process alive
  }

  private flush(): void {
    this.timer = undefined;
    if (this.closed) return;
    if (this.fd === undefined) {
      try {
        this.fd = openSync(this.walPath, 'r'); // Linux flushes a file's dirty pages through any descriptor of it
      } catch {
        return; // no WAL yet (or not ours to open): SQLite's own syncs are all there is, as before
      }
    }
    const fd = this.fd;
    this.running = new Promise<void>((resolve) =>
      fdatasync(fd, () => {
        this.flushes++;
        this.running = undefined;
        resolve();
        if (this.again) {
          this.again = false;
          this.committed();
        }
      }),
    );
  }

  /** Stop flushing; waits for a flush under way, then closes the descriptor. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) await new Promise<void>((resolve) => close(fd, () => resolve()));
  }
}
