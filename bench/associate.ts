// End-to-end association in the lab: POST /nics/associate → NIC service → VDP22 client → station lldpad → ECP →
// bridge lldpad → answer → "associated" stored in SQLite → HTTP 200; against a sequential loop of
// `ip netns exec ST vdptool -i s0 -T -W -V assoc …` on the same lab in the same run.
//   sequential: one NIC at a time through the API, per NIC vs the vdptool loop per NIC (target ≤ 1.5×)
//   batch: 500 NICs posted at once (50 HTTP requests in flight) vs the same vdptool loop per NIC (target ≥ 2× faster)
import { pool, withLabService } from './lab-service.js';
import { fmt, type BenchRow } from './table.js';

const SEQ = 100;
const BATCH = 500;
const HTTP_IN_FLIGHT = 50;
const VDPTOOL = 100;

async function timed(fn: () => Promise<number>): Promise<{ ms: number; ok: number }> {
  const t0 = performance.now();
  const ok = await fn();
  return { ms: performance.now() - t0, ok };
}

export async function benchAssociate(): Promise<BenchRow[]> {
  return withLabService(async (ls) => {
    // vdptool first, qbg sequential, vdptool again: the baseline brackets the measurement (load drifts).
    const v1 = await timed(() => pool(VDPTOOL, 1, (i) => ls.vdptool(i, 'assoc')));
    await pool(VDPTOOL, 1, (i) => ls.vdptool(i, 'deassoc'));
    const seq = await timed(() => pool(SEQ, 1, (i) => ls.associate(10_000 + i)));
    await pool(SEQ, 8, (i) => ls.disassociate(10_000 + i));
    const v2 = await timed(() => pool(VDPTOOL, 1, (i) => ls.vdptool(VDPTOOL + i, 'assoc')));
    await pool(VDPTOOL, 1, (i) => ls.vdptool(VDPTOOL + i, 'deassoc'));
    const batch = await timed(() => pool(BATCH, HTTP_IN_FLIGHT, (i) => ls.associate(20_000 + i)));

    const vPer = (v1.ms + v2.ms) / (2 * VDPTOOL);
    const vOk = v1.ok + v2.ok;
    const seqPer = seq.ms / SEQ;
    const batchPer = batch.ms / BATCH;
    const baseline = `${fmt.ms(vPer)}/NIC (vdptool loop, ${2 * VDPTOOL} NICs, ${vOk} ok)`;
    return [
      {
        what: `end-to-end associate, sequential (API → lldpad → bridge → stored), ${SEQ} NICs`,
        baseline,
        qbg: `${fmt.ms(seqPer)}/NIC (${seq.ok}/${SEQ} associated)`,
        ratio: fmt.x(seqPer / vPer, 'baseline time'),
        target: '≤ 1.5× baseline per NIC',
        met: seqPer <= 1.5 * vPer && seq.ok === SEQ,
      },
      {
        what: `${BATCH} NICs associated as a batch (${HTTP_IN_FLIGHT} HTTP requests in flight)`,
        baseline,
        qbg: `${fmt.ms(batchPer)}/NIC, ${(batch.ms / 1000).toFixed(2)} s total (${batch.ok}/${BATCH} associated)`,
        ratio: `${(vPer / batchPer).toFixed(2)}× faster`,
        target: '≥ 2× faster',
        met: vPer / batchPer >= 2 && batch.ok === BATCH,
      },
    ];
  });
}
