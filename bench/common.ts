// What every benchmark needs: temporary directories and labs that are always removed (also on error, exit and
// signals), a quiet qbg config, and synthetic NICs in the shapes the store and the API take.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, type QbgConfig } from '../src/config.js';
import { stableInstanceId } from '../src/domain/instance-uuid.js';
import { nicId, type NicParams } from '../src/domain/nic.js';
import type { VsiAssociator, VsiOutcome, VsiRequest, VsiStatus } from '../src/domain/vsi-request.js';
import { labDown, labDownSync, labUp, randomLabId, type LabInfo, type LabUpOptions } from '../src/lab/lab.js';

type SyncCleanup = () => void;
const exitCleanups = new Set<SyncCleanup>();
let hooked = false;

/** Run fn at process exit / SIGINT / SIGTERM unless released first (the returned function). */
export function onExitCleanup(fn: SyncCleanup): () => void {
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const f of exitCleanups) {
        try {
          f();
        } catch {
          /* best effort at exit */
        }
      }
    });
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
  }
  exitCleanups.add(fn);
  return () => exitCleanups.delete(fn);
}

/** A temporary directory removed at the end of fn, whatever happens. */
export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), `qbg-bench-${prefix}-`));
  const rm = (): void => rmSync(dir, { recursive: true, force: true });
  const release = onExitCleanup(rm);
  try {
    return await fn(dir);
  } finally {
    release();
    rm();
  }
}

/** A lab (random id) brought up for fn and torn down after it, also on error, exit and signals. */
export async function withLab<T>(opts: LabUpOptions, fn: (lab: LabInfo) => Promise<T>): Promise<T> {
  const id = randomLabId();
  const release = onExitCleanup(() => labDownSync(id));
  try {
    const lab = await labUp({ ...opts, id });
    return await fn(lab);
  } finally {
    try {
      await labDown(id);
    } catch {
      /* never came up, or already down */
    }
    release();
  }
}

/** qbg's config for a benchmark: embedded store in dir, any free loopback port, silent logs, no tokens. */
export function benchConfig(dir: string, over: Partial<QbgConfig> = {}): QbgConfig {
  const c = defaultConfig();
  return { ...c, dbPath: join(dir, 'qbg.db'), listen: { host: '127.0.0.1', port: 0 }, logLevel: 'silent', ...over };
}

export const BENCH_TYPE = { name: 'web', managerId: 16, typeId: 1193047, typeIdVersion: 2 } as const;

/** VM UUID and MAC of synthetic NIC i (unique for i < 2^24): two NICs per VM, like a typical web VM. */
export function nicIdentity(i: number): { vmUuid: string; mac: string } {
  const vm = Math.floor(i / 2);
  const vmUuid = `00000000-0000-4000-8000-${vm.toString(16).padStart(12, '0')}`;
  const b = [(i >> 16) & 255, (i >> 8) & 255, i & 255].map((x) => x.toString(16).padStart(2, '0'));
  return { vmUuid, mac: `52:54:00:${b.join(':')}` };
}

/** NicParams of synthetic NIC i as the NIC service would pin them for BENCH_TYPE. */
export function nicParams(i: number, uplink = 'eth0'): NicParams & { id: string } {
  const { vmUuid, mac } = nicIdentity(i);
  return {
    id: nicId(vmUuid, mac),
    vmUuid,
    mac,
    uplink,
    typeName: BENCH_TYPE.name,
    typeId: BENCH_TYPE.typeId,
    typeIdVersion: BENCH_TYPE.typeIdVersion,
    managerId2: '0'.repeat(30) + '10',
    filterFormat: 'vlan-mac',
    vlan: 100,
    instanceUuid: stableInstanceId(vmUuid, mac),
  };
}

/**
 * A stand-in for lldpad where lldpad is not what is measured (status reads, memory): accepts everything at once
 * and remembers what it holds, so checks agree with requests.
 */
export class AcceptingAssociator implements VsiAssociator {
  private readonly held = new Map<string, VsiStatus>();
  /** requests + queries answered: a server is quiet when this stops moving */
  calls = 0;
  /** Pretend lldpad already holds this NIC's VSI (seeded NICs). */
  hold(p: NicParams, mode: VsiStatus['mode']): void {
    this.held.set(p.instanceUuid, { instanceUuid: p.instanceUuid, mode, typeId: p.typeId, typeIdVersion: p.typeIdVersion, managerId2: p.managerId2, filters: [{ vlan: p.vlan, mac: p.mac }] });
  }
  async request(req: VsiRequest): Promise<VsiOutcome> {
    this.calls++;
    if (req.mode === 'deassoc') this.held.delete(req.instanceUuid);
    else this.held.set(req.instanceUuid, { instanceUuid: req.instanceUuid, mode: req.mode, typeId: req.typeId, typeIdVersion: req.typeIdVersion, managerId2: req.managerId2, filters: req.filters });
    return { kind: 'accepted', mode: req.mode, latencyMs: 0 };
  }
  async query(_uplink: string, uuid: string): Promise<VsiStatus | undefined> {
    this.calls++;
    // lldpad answers over a socket: the answer comes in a later turn of the event loop, never synchronously
    await new Promise((r) => setImmediate(r));
    return this.held.get(uuid);
  }
  onEvent(): () => void {
    return () => undefined;
  }
  async ping(): Promise<{ ok: boolean; pid?: number }> {
    return { ok: true, pid: 1 };
  }
  async close(): Promise<void> {}
}

/** Percentile of sorted numbers (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Wait until check() is true, polling; throws with what after timeoutMs. */
export async function pollUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 100): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (await check()) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Two busy-loop processes (one per core of the 2-core machines here) for the whole of fn: the "loaded host" of
 * issue 12. Each is `timeout 600 sh -c 'while :; do :; done'` in its own process group, killed by its pid when fn
 * ends (also on error, exit and signals), so a crashed benchmark cannot leave them spinning past 10 minutes.
 */
export async function withCpuHog<T>(fn: () => Promise<T>, count = 2): Promise<T> {
  const hogs = Array.from({ length: count }, () =>
    spawn('timeout', ['600', 'sh', '-c', 'while :; do :; done'], { detached: true, stdio: 'ignore' }),
  );
  const kill = (): void => {
    for (const h of hogs) {
      try {
        if (h.pid) process.kill(-h.pid, 'SIGKILL'); // the group: timeout and its sh
      } catch {
        /* already gone */
      }
    }
  };
  const release = onExitCleanup(kill);
  try {
    await new Promise((r) => setTimeout(r, 1000)); // let the load build up before the clock runs
    return await fn();
  } finally {
    kill();
    release();
  }
}
