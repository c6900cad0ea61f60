// A server in its own process for the memory and status-read benchmarks (the load generator must not share the
// server's event loop, and resident memory is only meaningful per process). Run compiled (see build.ts):
//   node --expose-gc serve-child.js qbg <nics> <dir> [sweep|still]
//                                                        qbg (createService) with <nics> NICs tracked, associated,
//                                                        spread over uplinks eth0–eth3; sweep: reconciler sweeps
//                                                        back to back while it serves; still: no periodic sweep
//   node serve-child.js bare <bodies.json>               bare fastify answering GET /nics and /nics/:id from memory
// Prints one JSON line when ready ({ address, … }); answers a stdin line "mem" with its memory after a full GC
// (as JSON); serves until its stdin closes.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import Fastify from 'fastify';
import { createService } from '../src/service/app.js';
import { NicRepo } from '../src/store/nic-repo.js';
import { AcceptingAssociator, BENCH_TYPE, benchConfig, nicParams } from './common.js';

export interface ChildMemory {
  rss: number;
  heapUsed: number;
  external: number;
}

export interface ChildReady {
  address: string;
  nics: number;
  sampleIds?: string[];
  /** reconciler sweeps finished by the time the child printed this (sweep mode) */
  sweeps?: number;
}

async function quiet(assoc: AcceptingAssociator, ms: number, maxMs: number): Promise<void> {
  const t0 = Date.now();
  let last = -1;
  while (Date.now() - t0 < maxMs) {
    if (assoc.calls === last) return;
    last = assoc.calls;
    await new Promise((r) => setTimeout(r, ms));
  }
}

async function qbg(n: number, dir: string, mode: 'sweep' | 'still' | undefined): Promise<ChildReady> {
  const sweep = mode === 'sweep';
  const assoc = new AcceptingAssociator();
  // still: no periodic sweep (every 30 s by default), which would land in some rounds of a read benchmark and not
  // others; reads during sweeps are measured on their own (sweep: one sweep after the other)
  const config = benchConfig(dir);
  const svc = await createService(mode === 'still' ? { ...config, reconcile: { ...config.reconcile, intervalSeconds: 0 } } : config, { associator: assoc });
  svc.types.create({ ...BENCH_TYPE });
  // NICs as the NIC service leaves them after a successful associate: state + two history rows each, and lldpad
  // (the stand-in) holding them, so a reconciler sweep finds nothing to do. The first NIC goes through
  // NicRepo.applyEvent; the rest are written as the same rows directly (100,000 applyEvent calls took minutes on a
  // loaded machine), and the check below proves the rows alike.
  const repo = new NicRepo(svc.db);
  const ids: string[] = [];
  const insertNic = svc.db.prepare(`INSERT INTO nics (id, vm_uuid, mac, uplink, type_name, type_id, type_id_version, manager_id2,
    filter_format, group_id, vlan, instance_uuid, state, desired_mode, reason_code, reason, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, 'associated', 'assoc', NULL, NULL, ?, ?)`);
  const insertHistory = svc.db.prepare(`INSERT INTO nic_history (nic_id, at, from_state, to_state, event, cause) VALUES (?, ?, ?, ?, ?, ?)`);
  svc.db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const p = nicParams(i, `eth${i % 4}`);
      if (i === 0) {
        repo.applyEvent(p.id, { event: 'request-assoc', cause: 'api-assoc', params: p, desiredMode: 'assoc' });
        repo.applyEvent(p.id, { event: 'answer-accepted', cause: 'lldpad-answer' });
      } else {
        const at = new Date().toISOString();
        insertNic.run(p.id, p.vmUuid, p.mac, p.uplink, p.typeName, p.typeId, p.typeIdVersion, p.managerId2, p.filterFormat, p.vlan, p.instanceUuid, at, at);
        insertHistory.run(p.id, at, 'new', 'associating', 'request-assoc', 'api-assoc');
        insertHistory.run(p.id, at, 'associating', 'associated', 'answer-accepted', 'lldpad-answer');
      }
      assoc.hold(p, 'assoc');
      if (i % Math.max(1, Math.floor(n / 100)) === 0) ids.push(p.id);
    }
  })();
  if (n > 1) {
    const [a, b] = [repo.get(nicParams(0).id)!, repo.get(nicParams(1, 'eth1').id)!];
    const shape = (x: object) => Object.keys(x).filter((k) => !['id', 'vmUuid', 'mac', 'uplink', 'instanceUuid', 'createdAt', 'updatedAt'].includes(k)).map((k) => `${k}=${JSON.stringify((x as Record<string, unknown>)[k])}`).join(',');
    if (shape(a) !== shape(b) || repo.history(a.id).total !== repo.history(b.id).total) throw new Error(`seeded NIC differs from one made by applyEvent: ${shape(a)} vs ${shape(b)}`);
  }
  lldpadQueries = () => assoc.calls;
  const [address] = await svc.start();
  // the start-up sweep asks about every NIC; in sweep mode it is the first of the sweeps measured under
  if (!sweep) await quiet(assoc, 500, 120_000);
  let stopped = false;
  if (sweep) {
    // the reconciler's periodic work at its worst: one full sweep after the other while the reads are measured
    void (async () => {
      while (!stopped) {
        await svc.reconciler.sweep('bench');
        sweeps++;
      }
    })();
  }
  onEnd(() => {
    stopped = true;
    return svc.stop();
  });
  return { address, nics: n, sampleIds: ids };
}

/** Clients live in other processes: the parent warms the read paths over HTTP, then asks "mem" on stdin. */
function memoryNow(): ChildMemory {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 4; i++) gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}

let stopServer: () => Promise<unknown> = async () => undefined;
let sweeps = 0;
let lldpadQueries = (): number => 0;
function onEnd(stop: () => Promise<unknown>): void {
  stopServer = stop;
}

async function bare(bodiesFile: string): Promise<ChildReady> {
  const bodies = JSON.parse(readFileSync(bodiesFile, 'utf8')) as { page: string; nic: string };
  const app = Fastify({ logger: false });
  app.get('/nics', async (_req, reply) => reply.type('application/json; charset=utf-8').send(bodies.page));
  app.get('/nics/:id', async (_req, reply) => reply.type('application/json; charset=utf-8').send(bodies.nic));
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  onEnd(() => app.close());
  return { address, nics: 0 };
}

const [mode, a, b, c] = process.argv.slice(2);
const ready = mode === 'qbg' ? await qbg(Number(a), b, c === 'sweep' || c === 'still' ? c : undefined) : mode === 'bare' ? await bare(a) : undefined;
if (!ready) {
  console.error('usage: serve-child.js qbg <nics> <dir> [sweep|still] | bare <bodies.json>');
  process.exit(2);
}
process.stdout.write(JSON.stringify(ready) + '\n');
createInterface({ input: process.stdin })
  .on('line', (l) => {
    if (l.trim() === 'mem') process.stdout.write(JSON.stringify(memoryNow()) + '\n');
    if (l.trim() === 'sweeps') process.stdout.write(JSON.stringify({ sweeps, queries: lldpadQueries() }) + '\n');
  })
  .on('close', () => void stopServer().finally(() => process.exit(0)));
