// Measures the VDP22 association transport: our client (one lldpad client socket through the python helper)
// sequentially and with 20 requests in flight, against a sequential loop of `ip netns exec NS vdptool -T -W …`,
// in the same run on the same lab. Usage: npx tsx bench/transport.ts [count=100]   (needs root and lldpad)
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { promisify } from 'node:util';
import type { VsiOutcome, VsiRequest } from '../src/domain/vsi-request.js';
import { labDown, labDownSync, labUp, randomLabId } from '../src/lab/lab.js';
import { Vdp22Client } from '../src/lldpad/vdp22-client.js';

const execFileP = promisify(execFile);
const COUNT = Number(process.argv[2] ?? 100);
if (!Number.isInteger(COUNT) || COUNT < 1 || COUNT > 1000) throw new Error(`count must be 1–1000, got ${process.argv[2]}`);

function vsi(i: number, mode: VsiRequest['mode'], instanceUuid: string): VsiRequest {
  return {
    uplink: 's0',
    mode,
    managerId2: '0'.repeat(32),
    typeId: 5000 + i,
    typeIdVersion: 1,
    instanceUuid,
    filterFormat: 'vlan-mac',
    filters: [{ vlan: 0, mac: `52:54:00:0b:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}` }],
  };
}

interface Row {
  method: string;
  assocMs: number;
  deassocMs: number;
  /** median wall time of one call (a failed VSI costs lldpad's ~16 s ACK timeout and dominates the mean) */
  assocP50: number;
  deassocP50: number;
  /** assoc/deassoc requests that did not end in the mode asked for (or vdptool printed another VSI's event) */
  failed: string;
}

let calls: number[] = [];
/** Time one call into `calls`. */
async function call<T>(fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    calls.push(performance.now() - t0);
  }
}

async function timed(fn: () => Promise<number>): Promise<{ ms: number; failed: number; p50: number }> {
  calls = [];
  const t0 = performance.now();
  const failed = await fn();
  const ms = performance.now() - t0;
  const sorted = [...calls].sort((a, b) => a - b);
  return { ms, failed, p50: sorted[Math.floor(sorted.length / 2)] ?? NaN };
}

const bad = (os: VsiOutcome[]): number => os.filter((o) => o.kind !== 'accepted').length;

async function viaClient(netns: string, inFlight: number): Promise<Row> {
  const client = new Vdp22Client({ netns, maxInFlight: inFlight, requestTimeoutMs: 20_000 });
  try {
    await client.ping(); // helper started and attached before the clock runs
    const reqs = Array.from({ length: COUNT }, (_, i) => vsi(i, 'assoc', randomUUID()));
    const run = async (mode: VsiRequest['mode']): Promise<number> => {
      if (inFlight === 1) {
        let failed = 0;
        for (const r of reqs) if ((await call(() => client.request({ ...r, mode }))).kind !== 'accepted') failed++;
        return failed;
      }
      return bad(await Promise.all(reqs.map((r) => call(() => client.request({ ...r, mode })))));
    };
    const a = await timed(() => run('assoc'));
    const d = await timed(() => run('deassoc'));
    const method = inFlight === 1 ? 'qbg client, sequential' : `qbg client, ${inFlight} in flight`;
    return { method, assocMs: a.ms, deassocMs: d.ms, assocP50: a.p50, deassocP50: d.p50, failed: `${a.failed}/${d.failed}` };
  } finally {
    await client.close();
  }
}

async function viaVdptool(netns: string): Promise<Row> {
  const reqs = Array.from({ length: COUNT }, (_, i) => vsi(i + COUNT, 'assoc', randomUUID()));
  const one = async (r: VsiRequest, mode: string): Promise<boolean> => {
    const f = r.filters[0];
    const argv = ['netns', 'exec', netns, 'vdptool', '-i', 's0', '-T', '-W', '-V', 'assoc', '-c', `mode=${mode}`, '-c', 'mgrid2=0',
      '-c', `typeid=${r.typeId}`, '-c', `typeidver=${r.typeIdVersion}`, '-c', `uuid=${r.instanceUuid}`, '-c', 'hints=none', '-c', `filter=${f.vlan}-${f.mac}`];
    try {
      const { stdout } = await execFileP('ip', argv, { timeout: 20_000 });
      // vdptool -W prints the next event, which may be another VSI's: count that as a failure too.
      return new RegExp(`mode = ${mode}\\b`).test(stdout) && stdout.includes(`uuid = ${r.instanceUuid}`);
    } catch {
      return false;
    }
  };
  const run = async (mode: string): Promise<number> => {
    let failed = 0;
    for (const r of reqs) if (!(await call(() => one(r, mode)))) failed++;
    return failed;
  };
  const a = await timed(() => run('assoc'));
  const d = await timed(() => run('deassoc'));
  return { method: 'ip netns exec vdptool -W, sequential', assocMs: a.ms, deassocMs: d.ms, assocP50: a.p50, deassocP50: d.p50, failed: `${a.failed}/${d.failed}` };
}

async function waitForVdp(netns: string): Promise<void> {
  const client = new Vdp22Client({ netns });
  try {
    const probe = vsi(9999, 'assoc', randomUUID());
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

async function main(): Promise<void> {
  const id = randomLabId();
  const onExit = (): void => {
    try {
      labDownSync(id);
    } catch {
      /* already down */
    }
  };
  process.on('exit', onExit);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
  try {
    const lab = await labUp({ id, stationEvb: true });
    const netns = lab.stations[0].netns;
    await waitForVdp(netns);
    const load = loadavg()[0].toFixed(1);
    const rows = [await viaVdptool(netns), await viaClient(netns, 1), await viaClient(netns, 20)];
    const base = rows[0];
    const per = (ms: number): string => (ms / COUNT).toFixed(2);
    console.log(`VDP22 transport, ${COUNT} associations + ${COUNT} disassociations each, lab ${id}, load average ${load} → ${loadavg()[0].toFixed(1)}`);
    console.log('| method | assoc ms/VSI | assoc p50 ms | deassoc ms/VSI | deassoc p50 ms | failed assoc/deassoc | assoc throughput vs vdptool |');
    console.log('|---|---|---|---|---|---|---|');
    for (const r of rows) {
      const ratio = (base.assocMs / r.assocMs).toFixed(2);
      console.log(`| ${r.method} | ${per(r.assocMs)} | ${r.assocP50.toFixed(2)} | ${per(r.deassocMs)} | ${r.deassocP50.toFixed(2)} | ${r.failed} | ${ratio}× |`);
    }
  } finally {
    await labDown(id);
    process.off('exit', onExit);
  }
}

await main();
