// A real `qbg serve` on a libvirt lab station, where an admin runs it: inside the station's network namespace (the
// libvirtd there runs qbg's hook, which calls http://127.0.0.1:8021 in that namespace: every station has its own
// port space, so the default port never collides with another lab). The test itself lives in the root namespace
// and speaks to the same qbg over its unix socket (a file: reachable from every network namespace).
// The hook config is rewritten here to name this qbg; the hook reads it at each call, so no libvirtd restart.
import type { Test } from 'tap';
import { request } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startQbg, type QbgProcess } from '../helpers/qbg-process.js';
import { heldOn, type TeardownHost } from './harness.js';
import { startLibvirtLab, type LibvirtLab } from './libvirt-harness.js';
import { startSim, type Sim } from './simbridge-process.js';
import { until } from '../helpers/until.js';

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

/** The VSI type the scenario files create on their qbg (and name in their guests' metadata or virtualports). */
export const SCENARIO_TYPE = { name: 'web', managerId: 11, typeId: 1193047, typeIdVersion: 2 };

/** A hot-pluggable macvtap NIC on the uplink; `virtualport`: the full 802.1Qbg one (libvirt announces the VSI). */
export function nicXml(mac: string, virtualport?: { instanceid: string }): string {
  const ty = SCENARIO_TYPE;
  const vp = virtualport
    ? `<virtualport type='802.1Qbg'><parameters managerid='${ty.managerId}' typeid='${ty.typeId}' typeidversion='${ty.typeIdVersion}' instanceid='${virtualport.instanceid}'/></virtualport>`
    : '';
  return `<interface type='direct'><mac address='${mac}'/><source dev='s0' mode='vepa'/>${vp}<model type='virtio'/><rom enabled='no'/></interface>`;
}

/** The qemu hook calls libvirtd logged for one domain, in order ("prepare begin", …). */
export function hookCalls(log: string, vm: string): string[] {
  return [...log.matchAll(new RegExp(`Calling hook /etc/libvirt/hooks/qemu id=${vm} op=(\\w+) subop=(\\w+)`, 'g'))].map((m) => `${m[1]} ${m[2]}`);
}

/** libvirt's own port profile requests in libvirtd's log for one MAC ("ASSOCIATE", "DISASSOCIATE", …), in order. */
export function netlinkRequests(log: string, mac: string): string[] {
  return [...log.matchAll(new RegExp(`virNetDevVPortProfileOpSetLink:\\d+ : (\\w+): ifname: \\S+ [^\\n]*mac: ${mac}`, 'g'))].map((m) => m[1]!);
}

/** The sum of qbg's VDP requests of one mode sent to lldpad so far (every outcome), from /metrics. */
export function vdpRequests(metrics: string, mode: string): number {
  let sum = 0;
  for (const m of metrics.matchAll(/^qbg_vdp_request_duration_seconds_count\{([^}]*)\} (\d+)/gm)) if (m[1]!.includes(`mode="${mode}"`)) sum += Number(m[2]);
  return sum;
}

/** Calls of one route answered 200 so far (the hooks' calls), from /metrics. */
export function hookAssociates(metrics: string, route = '/nics/associate'): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`qbg_http_request_duration_seconds_count{method="POST",route="${route}",status_code="200"}`));
  return Number(line?.split(' ').pop() ?? 0);
}

/** One row of a NIC's history as the API gives it. */
export interface HistoryRow {
  to: string;
  event: string;
  cause: string;
  reason?: string;
}

/** One NIC's history, oldest first (empty while qbg does not know the NIC). `withoutChecks` leaves out the
 *  reconciler's looks (`check-*` events): its periodic sweep (every 30 s) may check a NIC between libvirt's steps
 *  and truthfully record what lldpad holds (check-associated once libvirt's ASSOCIATE is in; check-missing settles
 *  a failed NIC lldpad holds nothing of as disassociated), which says nothing of those steps. */
export async function historyOf(q: StationQbg, nic: string, opts: { withoutChecks?: boolean } = {}): Promise<HistoryRow[]> {
  const r = await q.api('GET', `/nics/${nic}/history`);
  if (r.status === 404) return [];
  const rows: HistoryRow[] = r.body.items;
  return opts.withoutChecks ? rows.filter((h) => !h.event.startsWith('check-')) : rows;
}

/** The states one NIC went to, oldest first (see historyOf). */
export async function statesOf(q: StationQbg, nic: string, opts: { withoutChecks?: boolean } = {}): Promise<string[]> {
  return (await historyOf(q, nic, opts)).map((h) => h.to);
}

/** Wait (bounded) until qbg records the NIC in `state`. */
export function settles(q: StationQbg, nic: string, state: string, what: string): Promise<string> {
  return until(what, async () => ((await q.api('GET', `/nics/${nic}`)).body.state === state ? state : undefined), 30_000);
}

/** `virsh migrate --live` of one domain between two stations' libvirtds, the client driving both over their unix
 *  sockets and qemu's migration stream over a unix socket in the lab's state dir (the one path both private mount
 *  namespaces share). Asserts that virsh succeeded and logs how long it took. */
export async function migrateLive(t: Test, lv: LibvirtLab, vm: string, from: string, to: string, extra: string[] = []): Promise<void> {
  const started = Date.now();
  const sock = `unix://${lv.lab.stateDir}/migrate-${vm}-${to}.sock`;
  const m = await lv.virsh(['migrate', '--live', ...extra, vm, lv.libvirt(to).uri, '--migrateuri', sock], { station: from, timeoutMs: 120_000 });
  t.comment(`virsh migrate --live ${extra.join(' ')} ${from} → ${to} took ${Date.now() - started} ms`);
  t.equal(m.code, 0, `virsh migrate: ${m.stdout}${m.stderr}`);
}

/** Migrate a running guest from station 1 to 2 leaving it paused there (--suspend), and check what both ownerships
 *  share at that point: the destination ran its hooks up to `started begin` and no hook once the migration finished,
 *  the source stopped and released, its qbg records the NIC de-associated and its lldpad holds nothing. */
export async function migrateSuspended(t: Test, lv: LibvirtLab, vm: string, src: StationQbg, nic: string, vsi: string): Promise<void> {
  await migrateLive(t, lv, vm, 'st1', 'st2', ['--suspend']);
  t.equal((await lv.virsh(['domstate', vm], { station: 'st2' })).stdout.trim(), 'paused', 'the guest arrived paused on station 2');
  const dstCalls = hookCalls(lv.log('st2'), vm);
  t.comment(`destination hook calls: ${dstCalls.join(', ')}`);
  t.same(dstCalls, ['migrate begin', 'prepare begin', 'start begin', 'started begin'], 'the destination: no hook call once the migration finished');
  t.same(hookCalls(lv.log('st1'), vm).slice(-2), ['stopped end', 'release end'], 'the source: stopped and released');
  t.equal(await settles(src, nic, 'disassociated', 'the source to de-associate'), 'disassociated');
  t.same(await heldOn(lv.lab, 'st1', vsi), [], "the source's lldpad holds nothing");
}

/** RKA/RWD exponent 17 on both sides of the simulated-bridge scenarios (≈ 1.3 s instead of ≈ 10.5 s): lldpad gives up
 *  on a silent bridge after ≈ 2 s, well inside qbg's own 10 s and the hook's 20 s. */
export const SIM_EXP = '17';
/** The VSI types of the simulated-bridge scenarios: the bridge refuses `refused` (reason 2) and ignores `silent`. */
export const SIM_TYPES = {
  web: SCENARIO_TYPE,
  refused: { name: 'refused', managerId: 11, typeId: 4242, typeIdVersion: 1 },
  silent: { name: 'silent', managerId: 11, typeId: 4343, typeIdVersion: 1 },
};

/** A libvirt lab whose station faces the simulated bridge (no bridge lldpad), with VDP timers SIM_EXP on both sides
 *  and the bridge scripted by SIM_TYPES, EVB and VDP22 up on the station. */
export async function startSimBridgeLibvirtLab(t: Test): Promise<{ lv: LibvirtLab; sim: Sim }> {
  const lv = await startLibvirtLab(t, { bridge: 'none', waitForEvb: false, hook: { onQbgDown: 'fail' } });
  const { lab } = lv;
  const st = lab.station('st1');
  for (const key of ['vdprka', 'vdprwd']) {
    const r = await lab.lldptool(st.netns, ['-T', '-i', st.uplink, '-g', 'ncb', '-V', 'evb', '-c', `${key}=${SIM_EXP}`]);
    t.equal(r.code, 0, `station ${key}=${SIM_EXP}: ${r.stdout}${r.stderr}`);
  }
  const sim = await startSim(lab, st.bridgePort, ['--rka', SIM_EXP, '--rwd', SIM_EXP]);
  t.teardown(() => sim.stop());
  await lab.waitForEvb('st1');
  await lab.waitForVdp22('st1');
  await sim.send({ cmd: 'rule', typeId: SIM_TYPES.refused.typeId, rule: { action: 'reject', reason: 2 } });
  await sim.send({ cmd: 'rule', typeId: SIM_TYPES.silent.typeId, rule: { action: 'silent' } });
  return { lv, sim };
}
