// The end-to-end setting: a lab (station + bridge lldpad, EVB pre-configured), qbg built by createService with
// the VDP22 client running its helper in the station namespace, and the two ways to associate a NIC that the
// end-to-end benchmarks compare — qbg's HTTP API and a `vdptool -T -W` per NIC (the idea of bench/transport.ts).
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LabInfo } from '../src/lab/lab.js';
import { Vdp22Client } from '../src/lldpad/vdp22-client.js';
import { createService, type QbgService } from '../src/service/app.js';
import { BENCH_TYPE, benchConfig, nicIdentity, nicParams, withLab, withTempDir } from './common.js';

const execFileP = promisify(execFile);

/**
 * The benchmark's HTTP client: node:http with kept-alive connections. fetch (undici, web streams) cost about as much
 * CPU per request in this process as qbg's own handler, and it runs in the same process as the qbg it measures.
 */
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
export function post(url: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = httpRequest(url, { method: 'POST', agent, headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

export interface LabService {
  lab: LabInfo;
  netns: string;
  svc: QbgService;
  base: string;
  /** POST /nics/associate for synthetic NIC i; true when the answer says the NIC is stored as associated. */
  associate(i: number): Promise<boolean>;
  /** Why associations failed, counted by reason (NIC state: reason), for the table's notes. */
  failures: Map<string, number>;
  /** POST /nics/:id/disassociate for synthetic NIC i (clean-up between phases). */
  disassociate(i: number): Promise<boolean>;
  /** One `ip netns exec ST vdptool -i s0 -T -W -V assoc -c mode=…` for synthetic NIC i; true when vdptool printed that mode. */
  vdptool(i: number, mode: 'assoc' | 'deassoc'): Promise<boolean>;
  /** De-associate what vdptool made for NIC i through qbg's own client (clean-up: no process per VSI). */
  vdptoolDrop(i: number): Promise<boolean>;
  /**
   * The raw round trip: synthetic NIC i's VSI (own UUID) asked of lldpad through qbg's VDP22 client itself — the
   * same helper process and socket the service uses — with no HTTP, no store; true when accepted.
   */
  raw(i: number, mode: 'assoc' | 'deassoc', station?: 1 | 2): Promise<boolean>;
  /** The service's own VDP22 client (the associator createService wraps with its metrics). */
  client: Vdp22Client;
  /** With stations: 2, a second qbg (own store) on the lab's second station, whose uplink is another ECP channel. */
  second?: ApiNic;
}

/**
 * Run `count` tasks with at most `width` at once; returns how many resolved true. With deadlineMs, no new task
 * starts after it (a benchmark stays bounded when lldpad stops answering); `started` then says how far it got.
 */
export async function pool(count: number, width: number, task: (i: number) => Promise<boolean>, deadlineMs?: number): Promise<number> {
  return (await poolBounded(count, width, task, deadlineMs)).ok;
}

export async function poolBounded(
  count: number,
  width: number,
  task: (i: number) => Promise<boolean>,
  deadlineMs = Infinity,
): Promise<{ ok: number; started: number }> {
  const end = performance.now() + deadlineMs;
  let next = 0;
  let ok = 0;
  const worker = async (): Promise<void> => {
    while (next < count && performance.now() < end) if (await task(next++)) ok++;
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, worker));
  return { ok, started: next };
}

/** VDP22 answers only after the EVB TLVs were exchanged: probe with a real association (then drop it). */
async function waitForVdp(netns: string): Promise<void> {
  const client = new Vdp22Client({ netns });
  try {
    const p = nicParams(0xfffff, 's0');
    const probe = { uplink: 's0', mode: 'assoc' as const, managerId2: p.managerId2, typeId: p.typeId, typeIdVersion: p.typeIdVersion, instanceUuid: randomUUID(), filterFormat: 'vlan-mac' as const, filters: [{ vlan: 0, mac: p.mac }] };
    for (let i = 0; i < 150; i++) {
      if ((await client.request(probe)).kind === 'accepted') {
        await client.request({ ...probe, mode: 'deassoc' });
        return;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`VDP22 did not start on ${netns}/s0 within 30 s`);
  } finally {
    await client.close();
  }
}

export interface ServiceOptions {
  /** Build the VDP22 client with this many requests in flight instead of the shipped default (1). */
  maxInFlight?: number;
}

type ApiNic = Pick<LabService, 'svc' | 'base' | 'associate' | 'disassociate' | 'failures' | 'client'>;

/** qbg on the lab's station namespace, its store in dir; the caller stops svc. */
async function serviceOn(netns: string, dir: string, opts: ServiceOptions): Promise<ApiNic> {
  mkdirSync(dir, { recursive: true });
  const base = benchConfig(dir);
  const config = { ...base, lldpad: { ...base.lldpad, transport: 'vdp22' as const, netns } };
  // built as createService would (src/service/app.ts createAssociator), kept here for the raw round trip and its window
  const client = new Vdp22Client({ netns, watchIntervalMs: 1000, maxInFlight: opts.maxInFlight ?? config.lldpad.maxInFlight });
  const svc = await createService(config, { associator: client });
  try {
    svc.types.create({ ...BENCH_TYPE });
    const [address] = await svc.start();
    const failures = new Map<string, number>();
    return {
      svc,
      client,
      base: address,
      failures,
      async associate(i) {
        const { vmUuid, mac } = nicIdentity(i);
        const r = await post(`${address}/nics/associate`, { vmUuid, mac, uplink: 's0', type: BENCH_TYPE.name, vlan: 0 });
        const body = (r.json ?? {}) as { nic?: { state?: string; reason?: string }; message?: string; details?: { nic?: { state?: string; reason?: string } } };
        const ok = r.status >= 200 && r.status < 300;
        if (ok && body.nic?.state === 'associated') return true;
        const nic = body.nic ?? body.details?.nic;
        const why = `${nic?.state ?? r.status}: ${(nic?.reason ?? body.message ?? '').replace(/\d{3,}/g, 'N').slice(0, 80)}`;
        failures.set(why, (failures.get(why) ?? 0) + 1);
        return false;
      },
      async disassociate(i) {
        const r = await post(`${address}/nics/${nicParams(i).id}/disassociate`);
        return r.status >= 200 && r.status < 300;
      },
    };
  } catch (e) {
    await svc.stop();
    throw e;
  }
}

/** A second qbg (own store) on the same lab for fn, e.g. with another transport setting; stopped afterwards. */
export async function withVariant<T>(ls: LabService, opts: ServiceOptions, fn: (api: ApiNic) => Promise<T>): Promise<T> {
  return withTempDir('variant', async (dir) => {
    const api = await serviceOn(ls.netns, dir, opts);
    try {
      return await fn(api);
    } finally {
      await api.svc.stop();
    }
  });
}

/** Lab + qbg for fn, both torn down afterwards whatever happens. */
export async function withLabService<T>(fn: (ls: LabService) => Promise<T>, opts: { stations?: 1 | 2 } = {}): Promise<T> {
  return withTempDir('lab', (dir) =>
    withLab({ stationEvb: true, stations: opts.stations ?? 1 }, async (lab) => {
      const netns = lab.stations[0].netns;
      await Promise.all(lab.stations.map((s) => waitForVdp(s.netns)));
      const api = await serviceOn(netns, dir, {});
      const second = lab.stations[1] ? await serviceOn(lab.stations[1].netns, join(dir, 'st2'), {}).catch(async (e) => {
        await api.svc.stop();
        throw e;
      }) : undefined;
      try {
        const vdpUuids = new Map<number, string>();
        const rawUuids = new Map<number, string>();
        const ls: LabService = {
          vdptoolDrop: async () => false,
          async raw(i, mode, station = 1) {
            let uuid = rawUuids.get(i);
            if (!uuid) rawUuids.set(i, (uuid = randomUUID()));
            const p = nicParams(i, 's0');
            const client = station === 2 && second ? second.client : api.client;
            const o = await client.request({ uplink: 's0', mode, managerId2: '0'.repeat(32), typeId: p.typeId, typeIdVersion: p.typeIdVersion, instanceUuid: uuid, filterFormat: 'vlan-mac', filters: [{ vlan: 0, mac: p.mac }] });
            return o.kind === 'accepted';
          },
          ...(second ? { second } : {}),
          lab,
          netns,
          ...api,
          async vdptool(i, mode) {
            const { mac } = nicIdentity(i);
            let uuid = vdpUuids.get(i);
            if (!uuid) vdpUuids.set(i, (uuid = randomUUID()));
            const argv = ['netns', 'exec', netns, 'vdptool', '-i', 's0', '-T', '-W', '-V', 'assoc', '-c', `mode=${mode}`, '-c', 'mgrid2=0',
              '-c', `typeid=${BENCH_TYPE.typeId}`, '-c', `typeidver=${BENCH_TYPE.typeIdVersion}`, '-c', `uuid=${uuid}`, '-c', 'hints=none', '-c', `filter=0-${mac}`];
            try {
              const { stdout } = await execFileP('ip', argv, { timeout: 20_000 });
              return new RegExp(`mode = ${mode}\\b`).test(stdout); // the printed event may be another VSI's (qbg-notes)
            } catch {
              return false;
            }
          },
        };
        ls.vdptoolDrop = async (i) => {
          const uuid = vdpUuids.get(i);
          if (!uuid) return false;
          const p = nicParams(i, 's0');
          const o = await api.svc.associator.request({ uplink: 's0', mode: 'deassoc', managerId2: '0'.repeat(32), typeId: p.typeId, typeIdVersion: p.typeIdVersion, instanceUuid: uuid, filterFormat: 'vlan-mac', filters: [{ vlan: 0, mac: p.mac }] });
          return o.kind === 'accepted';
        };
        return await fn(ls);
      } finally {
        await api.svc.stop();
        await second?.svc.stop();
      }
    }),
  );
}
