// Start bench/serve-child (compiled) in its own process, wait for its ready line, stop it by closing its stdin
// (SIGKILL after a grace period; always, also when the benchmark fails or the process exits).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { compiledPath, compiledTree, qbgNodeFlags, REPO } from './build.js';
import { onExitCleanup } from './common.js';
import type { ChildMemory, ChildReady } from './serve-child.js';

export interface ServerChild {
  ready: ChildReady;
  pid: number;
  /** The child's memory after a full GC, measured in the child. */
  memory(): Promise<ChildMemory>;
  /** Send a command line ("sweeps") and read its one-line JSON answer. */
  ask<T>(line: string): Promise<T>;
  stop(): Promise<void>;
}

export async function startServerChild(args: string[], opts: { timeoutMs?: number } = {}): Promise<ServerChild> {
  const root = await compiledTree();
  // QBG_BENCH_CPU_PROF=<dir>: profile the server children (summarise with `npx tsx bench/profile-top.ts <file>`).
  const prof = process.env.QBG_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.QBG_BENCH_CPU_PROF}`] : [];
  // qbg runs with the node flags its `qbg` command sets (src/cli/main.ts's first line)
  const flags = args[0] === 'qbg' ? qbgNodeFlags() : [];
  const child = spawn(process.execPath, ['--expose-gc', ...flags, ...prof, compiledPath(root, 'bench/serve-child.ts'), ...args], {
    cwd: REPO,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, QBG_LAB_SCRIPT: `${REPO}/lldpad/lab.sh` },
  });
  const pid = child.pid!;
  const release = onExitCleanup(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    child.stdin.end();
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(killer);
    release();
  };
  const lines = createInterface({ input: child.stdout });
  const nextLine = <T>(what: string, timeoutMs: number): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const onExit = (code: number | null): void => {
        clearTimeout(timer);
        reject(new Error(`server child ${args[0]} exited ${code} before ${what}: ${stderr.trim().split('\n').slice(-3).join(' / ')}`));
      };
      const timer = setTimeout(() => {
        child.off('exit', onExit);
        reject(new Error(`server child ${args[0]}: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      child.once('exit', onExit);
      lines.once('line', (l) => {
        clearTimeout(timer);
        child.off('exit', onExit);
        try {
          resolve(JSON.parse(l) as T);
        } catch {
          reject(new Error(`server child printed ${l.slice(0, 200)}`));
        }
      });
    });
  try {
    const ready = await nextLine<ChildReady>('ready line', opts.timeoutMs ?? 120_000);
    const memory = (): Promise<ChildMemory> => {
      const m = nextLine<ChildMemory>('memory line', 30_000);
      child.stdin.write('mem\n');
      return m;
    };
    const ask = <T>(line: string): Promise<T> => {
      const m = nextLine<T>(`answer to ${line}`, 30_000);
      child.stdin.write(`${line}\n`);
      return m;
    };
    return { ready, pid, memory, ask, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
