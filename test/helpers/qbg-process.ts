// Runs a real `qbg serve` as a child process (the same entry point a user runs), on its own SQLite file and a
// free loopback port, and stops it again. Used where a test needs a second, independent qbg.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { qbgNodeFlags } from '../../bench/build.js';

const ROOT = resolve(import.meta.dirname, '../..');

export interface QbgProcess {
  url: string;
  dir: string;
  child: ChildProcess;
  /** SIGTERM and wait: the graceful path. */
  stop(): Promise<void>;
  /** SIGKILL and wait: the remote "going away" without goodbye. */
  kill(): Promise<void>;
  /** What qbg wrote so far: stdout (its log) byte count and tail, and stderr. */
  log(): { bytes: number; tail: string; stderr: string };
}

export interface StartQbgOptions {
  config?: Record<string, unknown>;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Run in this directory (its qbg.db kept): a restart of the same host after stop()/kill(). */
  dir?: string;
  /** 'scripted': the same service as `qbg serve` with the scripted associator instead of lldpad
   *  (test/helpers/scripted-serve.ts), for tests of many hosts without a lab. */
  associator?: 'lldpad' | 'scripted';
  /** Run inside this network namespace (`ip netns exec`, which execs: the child's pid is qbg's). */
  netns?: string;
}

export async function startQbg(opts: StartQbgOptions = {}): Promise<QbgProcess> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'qbg-proc-'));
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify({ listen: { host: '127.0.0.1', port: 0, socket: '' }, dbPath: join(dir, 'qbg.db'), logLevel: 'warn', ...opts.config }));
  const entry = opts.associator === 'scripted' ? [join(ROOT, 'test/helpers/scripted-serve.ts'), configPath] : [join(ROOT, 'src/cli/main.ts'), 'serve', '--config', configPath];
  // node's flags as the `qbg` command sets them (its shebang): a flag this node no longer takes fails here too
  const argv = [process.execPath, ...qbgNodeFlags(), '--import', 'tsx', ...entry];
  if (opts.netns) argv.unshift('ip', 'netns', 'exec', opts.netns);
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Read stdout too: on Linux a write to a full pipe blocks, so a child whose stdout nobody reads would stop once
  // 64 KiB wait there. The tail is kept for diagnostics.
  let stdoutBytes = 0;
  let stdoutTail = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdoutBytes += d.length;
    stdoutTail = (stdoutTail + d.toString()).slice(-16_384);
  });
  let stderr = '';
  // from the start, not only once it listens: a qbg that never came up must not outlive the test
  const killAtExit = () => child.kill('SIGKILL');
  process.once('exit', killAtExit);
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`qbg serve did not start within ${opts.timeoutMs ?? 60000} ms: ${stderr}`));
    }, opts.timeoutMs ?? 60000);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /qbg listening on (http:\/\/[^\s,]+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`qbg serve exited with ${code}: ${stderr}`));
    });
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  // Bounded: a qbg that does not exit within 20 s of SIGTERM is a failure with its last words, never a hung test.
  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`qbg serve did not exit within 20 s of ${signal}; stderr: ${stderr.slice(-4000)}`));
      }, 20_000);
    });
    await Promise.race([exited, late]).finally(() => clearTimeout(timer));
  };
  return {
    url,
    dir,
    child,
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    log: () => ({ bytes: stdoutBytes, tail: stdoutTail, stderr }),
  };
}
