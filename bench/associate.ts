// End-to-end association in the lab: POST /nics/associate → NIC service → VDP22 client → station lldpad → ECP →
// bridge lldpad → answer → "associated" stored in SQLite → HTTP 200; against a sequential loop of
// `ip netns exec ST vdptool -i s0 -T -W -V assoc …` on the same lab in the same run.
//   sequential: one NIC at a time through the API, per NIC vs the vdptool loop per NIC (target ≤ 1.5×)
//   qbg's own cost: the same sequential associate minus the raw round trip of qbg's VDP22 client alone (the same
//     helper and socket, no HTTP, no store), measured around it (target ≤ 1 ms per associate)
//   batch: 500 NICs posted at once (50 HTTP requests in flight) vs the vdptool loop over 500 NICs (≥ 5× faster)
//   two uplinks: the same 500 split over the lab's two stations (two qbgs, each uplink its own ECP channel) at once,
//     vs the one-uplink batch (close to 2×)
//   loaded host: the batch and its vdptool baseline again with two busy-loop processes pinning both cores
import { loadavg } from 'node:os';
import { withCpuHog } from './common.js';
import { pool, poolBounded, withLabService, type LabService } from './lab-service.js';
import { fmt, type BenchRow } from './table.js';

const SEQ = 100;
const BATCH = 500;
const HTTP_IN_FLIGHT = 50;
const VDPTOOL = 100;
/** No new NIC is posted after this: each answer lldpad loses costs the client 10 s. */
const BATCH_DEADLINE_MS = 180_000;

async function timed(fn: () => Promise<number>): Promise<{ ms: number; ok: number }> {
  const t0 = performance.now();
  const ok = await fn();
  return { ms: performance.now() - t0, ok };
}

interface Batch {
  ms: number;
  ok: number;
  started: number;
}

async function timedBatch(fn: () => Promise<{ ok: number; started: number }>): Promise<Batch> {
  const t0 = performance.now();
  const r = await fn();
  return { ms: performance.now() - t0, ...r };
}

const cut = (b: { started: number }, of = BATCH): string => (b.started < of ? `, stopped after ${b.started} posted: deadline ${BATCH_DEADLINE_MS / 1000} s` : '');
const failuresOf = (m: Map<string, number>): string => [...m].map(([k, n]) => `${n}× ${k}`).join('; ');

/** The VDP22 client's adaptive window and at-once retries, for the notes (the service's own client). */
function clientNote(ls: LabService): string {
  const w = ls.client.windowOf('s0');
  return `VDP22 client: window ${w.limit} of max ${w.max} at the end, ${w.losses} answers lost in all so far, ${ls.client.retriedAtOnce} asked again at once so far (bridge ended the VSI as it answered)`;
}

/** vdptool loop over BATCH NICs (baseline), dropped again; then qbg's batch; then disassociated. */
async function batchPair(ls: LabService, vdpBase: number, nicBase: number): Promise<{ vb: Batch; batch: Batch; failures: string; client: string }> {
  const vb = await timedBatch(() => poolBounded(BATCH, 1, (i) => ls.vdptool(vdpBase + i, 'assoc'), BATCH_DEADLINE_MS));
  await pool(vb.started, 1, (i) => ls.vdptoolDrop(vdpBase + i));
  ls.failures.clear();
  const batch = await timedBatch(() => poolBounded(BATCH, HTTP_IN_FLIGHT, (i) => ls.associate(nicBase + i), BATCH_DEADLINE_MS));
  const failures = failuresOf(ls.failures);
  const client = clientNote(ls);
  return { vb, batch, failures, client };
}

function batchRow(what: string, p: { vb: Batch; batch: Batch; failures: string; client: string }, load: string): BenchRow {
  const vbPer = p.vb.ms / p.vb.started;
  const batchPer = p.batch.ms / p.batch.started;
  return {
    what,
    baseline: `${fmt.ms(vbPer)}/NIC (vdptool loop, ${p.vb.started} NICs held, ${p.vb.ok} ok)`,
    qbg: `${fmt.ms(batchPer)}/NIC, ${(p.batch.ms / 1000).toFixed(2)} s total (${p.batch.ok}/${BATCH} associated${cut(p.batch)})`,
    ratio: `${(vbPer / batchPer).toFixed(2)}× faster`,
    target: `≥ 5× faster, ${BATCH}/${BATCH} associated`,
    met: vbPer / batchPer >= 5 && p.batch.ok === BATCH,
    note: [load, p.failures ? `failed: ${p.failures}` : '', p.client].filter(Boolean).join('; '),
  };
}

const loadavgNow = (): number => loadavg()[0];
const loadNow = (): string => `load average ${loadavgNow().toFixed(1)}`;

export async function benchAssociate(): Promise<BenchRow[]> {
  return withLabService(
    async (ls) => {
      const second = ls.second;
      if (!second) throw new Error('the lab has no second station');
      // sequential: vdptool, raw client, qbg, raw client, vdptool — the baselines bracket the measurement (load drifts)
      const v1 = await timed(() => pool(VDPTOOL, 1, (i) => ls.vdptool(i, 'assoc')));
      await pool(VDPTOOL, 1, (i) => ls.vdptool(i, 'deassoc'));
      // qbg and the raw round trip in turns, NIC by NIC: each pair sees the same load (it drifted 25 → 125 ms per
      // raw round trip within one phase on the shared machine)
      const rawMs: number[] = [];
      const e2eMs: number[] = [];
      let rawOk = 0;
      let e2eOk = 0;
      for (let i = 0; i < SEQ; i++) {
        let t = performance.now();
        if (await ls.raw(40_000 + i, 'assoc')) rawOk++;
        rawMs.push(performance.now() - t);
        t = performance.now();
        if (await ls.associate(10_000 + i)) e2eOk++;
        e2eMs.push(performance.now() - t);
      }
      await pool(SEQ, 1, (i) => ls.raw(40_000 + i, 'deassoc'));
      await pool(SEQ, 8, (i) => ls.disassociate(10_000 + i));
      const seq = { ms: e2eMs.reduce((a, b) => a + b, 0), ok: e2eOk };
      const diffs = e2eMs.map((e, i) => e - rawMs[i]).sort((a, b) => a - b);
      const medianDiff = diffs[Math.floor(diffs.length / 2)];
      const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      const v2 = await timed(() => pool(VDPTOOL, 1, (i) => ls.vdptool(VDPTOOL + i, 'assoc')));
      await pool(VDPTOOL, 1, (i) => ls.vdptool(VDPTOOL + i, 'deassoc'));
      const seqLoad = loadNow();

      // batch on one uplink against the vdptool loop over as many NICs, so that lldpad ends up holding as many VSIs
      // (their keep-alives share the port's one ECP channel with new requests)
      const idleLoad0 = loadNow();
      const idle = await batchPair(ls, 2 * VDPTOOL, 20_000);
      const idleLoad = `${idleLoad0} → ${loadavgNow().toFixed(1)}`;
      await pool(BATCH, HTTP_IN_FLIGHT, (i) => ls.disassociate(20_000 + i));

      // the same 500 over two uplinks at once: half through each station's qbg
      const half = BATCH / 2;
      second.failures.clear();
      ls.failures.clear();
      const two = await timedBatch(async () => {
        const [a, b] = await Promise.all([
          poolBounded(half, HTTP_IN_FLIGHT / 2, (i) => ls.associate(60_000 + i), BATCH_DEADLINE_MS),
          poolBounded(half, HTTP_IN_FLIGHT / 2, (i) => second.associate(60_000 + half + i), BATCH_DEADLINE_MS),
        ]);
        return { ok: a.ok + b.ok, started: a.started + b.started };
      });
      const twoFailures = [failuresOf(ls.failures), failuresOf(second.failures)].filter(Boolean).join('; ');
      await Promise.all([pool(half, 25, (i) => ls.disassociate(60_000 + i)), pool(half, 25, (i) => second.disassociate(60_000 + half + i))]);

      // the ECP channels alone: the same through the two qbgs' VDP22 clients directly (no HTTP, no store)
      const rawOne = await timedBatch(() => poolBounded(BATCH, HTTP_IN_FLIGHT, (i) => ls.raw(80_000 + i, 'assoc'), BATCH_DEADLINE_MS));
      await pool(BATCH, HTTP_IN_FLIGHT, (i) => ls.raw(80_000 + i, 'deassoc'));
      const rawTwo = await timedBatch(async () => {
        const [a, b] = await Promise.all([
          poolBounded(half, HTTP_IN_FLIGHT / 2, (i) => ls.raw(85_000 + i, 'assoc', 1), BATCH_DEADLINE_MS),
          poolBounded(half, HTTP_IN_FLIGHT / 2, (i) => ls.raw(85_000 + half + i, 'assoc', 2), BATCH_DEADLINE_MS),
        ]);
        return { ok: a.ok + b.ok, started: a.started + b.started };
      });
      const rawLoad = loadNow();
      await Promise.all([pool(half, 25, (i) => ls.raw(85_000 + i, 'deassoc', 1)), pool(half, 25, (i) => ls.raw(85_000 + half + i, 'deassoc', 2))]);

      // a loaded host: both cores pinned by busy loops for the baseline and the batch alike
      let hogLoad = '';
      const hog = await withCpuHog(async () => {
        const l0 = loadNow();
        const r = await batchPair(ls, 2 * VDPTOOL + BATCH, 70_000);
        hogLoad = `${l0} → ${loadavgNow().toFixed(1)} (2 busy loops)`;
        return r;
      });
      await pool(BATCH, HTTP_IN_FLIGHT, (i) => ls.disassociate(70_000 + i));

      const vPer = (v1.ms + v2.ms) / (2 * VDPTOOL);
      const vOk = v1.ok + v2.ok;
      const seqPer = seq.ms / SEQ;
      const rawPer = rawMs.reduce((a, b) => a + b, 0) / SEQ;
      const overhead = seqPer - rawPer;
      const onePer = idle.batch.ms;
      return [
        {
          what: `end-to-end associate, sequential (API → lldpad → bridge → stored), ${SEQ} NICs`,
          baseline: `${fmt.ms(vPer)}/NIC (vdptool loop, ${2 * VDPTOOL} NICs, ${vOk} ok)`,
          qbg: `${fmt.ms(seqPer)}/NIC (${seq.ok}/${SEQ} associated)`,
          ratio: fmt.x(seqPer / vPer, 'baseline time'),
          target: '≤ 1.5× baseline per NIC',
          met: seqPer <= 1.5 * vPer && seq.ok === SEQ,
          note: seqLoad,
        },
        {
          what: `qbg's own cost per associate: the sequential end-to-end associate − the raw round trip of its VDP22 client (same helper and socket, no HTTP, no store)`,
          baseline: `${fmt.ms(rawPer)}/VSI raw round trip (median ${fmt.ms(median(rawMs))}; ${SEQ} VSIs, ${rawOk} ok)`,
          qbg: `${fmt.ms(seqPer)}/NIC end-to-end (median ${fmt.ms(median(e2eMs))})`,
          ratio: `${overhead.toFixed(2)} ms overhead (median of the pairs ${medianDiff.toFixed(2)} ms)`,
          target: '≤ 1 ms',
          met: overhead <= 1 && medianDiff <= 1 && seq.ok === SEQ && rawOk === SEQ,
          note: `each NIC's end-to-end associate right after a raw round trip of its own VSI, ${SEQ} pairs; ${seqLoad}`,
        },
        batchRow(`${BATCH} NICs associated as a batch on one uplink (${HTTP_IN_FLIGHT} HTTP requests in flight)`, idle, idleLoad),
        {
          what: `the same ${BATCH} NICs over two uplinks at once (the lab's two stations, a qbg on each, ${half} NICs each)`,
          baseline: `${(onePer / 1000).toFixed(2)} s (the one-uplink batch above)`,
          qbg: `${(two.ms / 1000).toFixed(2)} s (${two.ok}/${BATCH} associated${cut(two)})`,
          ratio: `${(onePer / two.ms).toFixed(2)}× faster`,
          target: '≥ 1.8× faster (close to 2×)',
          met: onePer / two.ms >= 1.8 && two.ok === BATCH && idle.batch.ok === BATCH,
          note: [loadNow(), twoFailures ? `failed: ${twoFailures}` : ''].filter(Boolean).join('; '),
        },
        {
          what: `the same over the VDP22 clients alone (no HTTP, no store): ${BATCH} VSIs on one uplink vs ${half} on each of two`,
          baseline: `${(rawOne.ms / 1000).toFixed(2)} s on one uplink (${rawOne.ok}/${BATCH} accepted)`,
          qbg: `${(rawTwo.ms / 1000).toFixed(2)} s on two (${rawTwo.ok}/${BATCH} accepted)`,
          ratio: `${(rawOne.ms / rawTwo.ms).toFixed(2)}× faster`,
          target: '≥ 1.8× faster (informational: what the ECP channels allow)',
          met: rawOne.ms / rawTwo.ms >= 1.8 && rawOne.ok === BATCH && rawTwo.ok === BATCH,
          note: rawLoad,
        },
        batchRow(`${BATCH} NICs associated as a batch on one uplink with a CPU hog (2 busy loops on the 2 cores)`, hog, hogLoad),
      ];
    },
    { stations: 2 },
  );
}
