// A real `qbg serve` on a libvirt lab station, where an admin runs it: inside the station's network namespace (the
// libvirtd there runs qbg's hook, which calls http://127.0.0.1:8021 in that namespace: every station has its own
// port space, so the default port never collides with another lab). The test itself lives in the root namespace
// and speaks to the same qbg over its unix socket (a file: reachable from every network namespace).
// The hook config is rewritten here to name this qbg; the hook reads it at each call, so no libvirtd restart.
import { request } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startQbg, type QbgProcess } from '../helpers/qbg-process.js';
import type { TeardownHost } from './harness.js';
import type { LibvirtLab } from './libvirt-harness.js';

export const STATION_QBG_URL = 'http://127.0.0.1:8021';

export interface ApiAnswer {
  status: number;
  body: any;
}

export interface StationQbg {
  dir: string;
  socket: string;
  api(method: string, path: string, body?: unknown): Promise<ApiAnswer>;
  /** SIGTERM; the database stays for start(). */
  stop(): Promise<void>;
  /** Start again on the same database (after stop()). */
  start(): Promise<void>;
  log(): string;
  /** The hook config of the station, as the hook reads it (edit with setHookConfig). */
  hookConfig(): Record<string, unknown>;
  setHookConfig(patch: Record<string, unknown>): void;
}

/** HTTP over qbg's unix socket, bounded: a request qbg never answers fails naming itself. */
export function unixApi(socket: string, method: string, path: string, body?: unknown, timeoutMs = 60_000): Promise<ApiAnswer> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      { socketPath: socket, method, path, headers: data === undefined ? {} : { 'content-type': 'application/json' }, timeout: timeoutMs },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            /* not JSON (metrics): keep the text */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(data);
  });
}

export async function startStationQbg(t: TeardownHost, lv: LibvirtLab, station = 'st1', config: Record<string, unknown> = {}): Promise<StationQbg> {
  const dir = mkdtempSync(join(tmpdir(), `qbg-${station}-`));
  const socket = join(dir, 'qbg.sock');
  const netns = lv.lab.station(station).netns;
  const hookConfigPath = join(lv.libvirt(station).root, 'etc', 'qbg-hook.json');
  const opts = {
    dir,
    netns,
    config: {
      listen: { host: '127.0.0.1', port: Number(new URL(STATION_QBG_URL).port), socket },
      logLevel: 'info',
      lldpad: { transport: 'vdp22' },
      ...config,
    },
  };
  let proc: QbgProcess | undefined = await startQbg(opts);
  let logs = '';
  const keepLog = () => {
    if (proc) logs += proc.log().tail;
  };
  t.teardown(async () => {
    await proc?.stop().catch(() => proc?.kill());
    rmSync(dir, { recursive: true, force: true });
  });
  const hookConfig = () => JSON.parse(readFileSync(hookConfigPath, 'utf8')) as Record<string, unknown>;
  const setHookConfig = (patch: Record<string, unknown>) => writeFileSync(hookConfigPath, JSON.stringify({ ...hookConfig(), ...patch }), { mode: 0o600 });
  setHookConfig({ url: STATION_QBG_URL });
  return {
    dir,
    socket,
    api: (method, path, body) => unixApi(socket, method, path, body),
    stop: async () => {
      keepLog();
      await proc?.stop();
      proc = undefined;
    },
    start: async () => {
      if (!proc) proc = await startQbg(opts);
    },
    log: () => logs + (proc ? proc.log().tail + proc.log().stderr : ''),
    hookConfig,
    setHookConfig,
  };
}
