// WAL checkpoints off the request path. SQLite's automatic checkpoint runs inside the COMMIT that crosses the WAL
// size limit (1,000 pages by default): that request copies the WAL into the database and fsyncs both — measured
// at 0.3–0.5 ms per associate on average (two commits each), paid in bursts by whichever request is unlucky. Here a
// worker thread with its own connection checkpoints every `everyMs`, 100 ms by default (PASSIVE: it never waits for, nor blocks, the
// writer), and the main connection keeps SQLite's own checkpoint only as a backstop at a much larger WAL, should the
// worker ever stop. Durability is unchanged: synchronous=NORMAL in WAL mode (src/store/db.ts) syncs at checkpoints,
// wherever they run.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Database } from 'better-sqlite3';

/** The main connection checkpoints by itself only past this many WAL pages (~40 MiB), when the worker fell behind. */
export const BACKSTOP_PAGES = 10_000;

export interface CheckpointStats {
  /** checkpoints the worker ran */
  runs: number;
  /** WAL frames and how many of them were copied into the database, at the last run (SQLite's own counts) */
  walFrames: number;
  checkpointed: number;
  lastError?: string;
}

export interface Checkpointer {
  stats(): CheckpointStats;
  /** Stops the worker (before the main connection closes: its own close then checkpoints what is left). */
  close(): Promise<void>;
}

// CommonJS, run with eval: no file to find next to a compiled or a tsx-run module. better-sqlite3 is required by the
// path the main thread resolved.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
let db;
try {
  db = new Database(workerData.path, { fileMustExist: true });
  db.pragma('busy_timeout = 0');
} catch (e) {
  // (better-sqlite3's errors lose their message when a worker's uncaught error is passed on: say it here)
  parentPort.postMessage({ fatal: String(e && e.message || e) });
  throw e;
}
const run = () => {
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ walFrames: r.log, checkpointed: r.checkpointed });
  } catch (e) {
    parentPort.postMessage({ error: String(e && e.message || e) });
  }
};
const timer = setInterval(run, workerData.everyMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/**
 * Checkpoints `path` (the file `db` has open) from a worker thread. Every 100 ms: with a longer period the WAL
 * outgrows what one PASSIVE run copies while requests keep writing (measured, in-process associates back to back:
 * 1.2 ms each with SQLite's own checkpoint, 1.1 at 1 s, 0.85 at 200 ms, 0.75 at 50 ms); an idle run only reads the
 * WAL header.
 */
export function startCheckpointer(db: Database, path: string, opts: { everyMs?: number } = {}): Checkpointer {
  const stats: CheckpointStats = { runs: 0, walFrames: 0, checkpointed: 0 };
  db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  const module = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER, { eval: true, workerData: { module, path, everyMs: opts.everyMs ?? 100 } });
  worker.unref(); // never what keeps the process alive
  const handBack = () => {
    // the worker is gone: SQLite's automatic checkpoint takes over again at its usual size
    if (db.open) db.pragma('wal_autocheckpoint = 1000');
  };
  worker.on('message', (m: { walFrames?: number; checkpointed?: number; error?: string; fatal?: string }) => {
    if (m.fatal) {
      stats.lastError = m.fatal;
      handBack();
      return;
    }
    stats.runs++;
    if (m.error) stats.lastError = m.error;
    else {
      stats.walFrames = m.walFrames ?? 0;
      stats.checkpointed = m.checkpointed ?? 0;
      delete stats.lastError;
    }
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.once('error', (e: unknown) => {
    stats.lastError ??= e instanceof Error && e.message ? e.message : 'the checkpoint worker failed';
    handBack();
  });
  return {
    stats: () => ({ ...stats }),
    async close() {
      if (exited) return;
      exited = true;
      worker.ref(); // the wait below must keep the process alive
      worker.postMessage('stop');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exit, new Promise((r) => (timer = setTimeout(r, 2000)))]);
      clearTimeout(timer);
      await worker.terminate();
    },
  };
}
