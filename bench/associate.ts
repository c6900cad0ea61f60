// End-to-end association in the lab: POST /nics/associate → NIC service → VDP22 client → station lldpad → ECP →
// bridge lldpad → answer → "associated" stored in SQLite → HTTP 200; against a sequential loop of
// `ip netns exec ST vdptool -i s0 -T -W -V assoc …` on the same lab in the same run.
//   sequential: one NIC at a time through the API, per NIC vs the vdptool loop per NIC (target ≤ 1.5×)
//   batch: 500 NICs posted at once (50 HTTP requests in flight) vs the vdptool loop over 500 NICs, per NIC (≥ 2× faster)
import { pool, poolBounded, withLabService, withVariant } from './lab-service.js';
import { fmt, type BenchRow } from './table.js';

const SEQ = 100;
const BATCH = 500;
const HTTP_IN_FLIGHT = 50;
const VDPTOOL = 100;
const VARIANT_IN_FLIGHT = 4;
/** No new NIC is posted after this: each answer lldpad loses costs the default client 10 s. */
const BATCH_DEADLINE_MS = 180_000;

async function timed(fn: () => Promise<number>): Promise<{ ms: number; ok: number }> {
  const t0 = performance.now();
  const ok = await fn();
  return { ms: performance.now() - t0, ok };
}

async function timedBatch(fn: () => Promise<{ ok: number; started: number }>): Promise<{ ms: number; ok: number; started: number }> {
  const t0 = performance.now();
  const r = await fn();
  return { ms: performance.now() - t0, ...r };
}

const cut = (b: { started: number }): string => (b.started < BATCH ? `, stopped after ${b.started} posted: deadline ${BATCH_DEADLINE_MS / 1000} s` : '');

export async function benchAssociate(): Promise<BenchRow[]> {
  return withLabService(async (ls) => {
    // sequential: vdptool, qbg, vdptool again — the baseline brackets the measurement (load drifts)
    const v1 = await timed(() => pool(VDPTOOL, 1, (i) => ls.vdptool(i, 'assoc')));
    await pool(VDPTOOL, 1, (i) => ls.vdptool(i, 'deassoc'));
    const seq = await timed(() => pool(SEQ, 1, (i) => ls.associate(10_000 + i)));
    await pool(SEQ, 8, (i) => ls.disassociate(10_000 + i));
    const v2 = await timed(() => pool(VDPTOOL, 1, (i) => ls.vdptool(VDPTOOL + i, 'assoc')));
    await pool(VDPTOOL, 1, (i) => ls.vdptool(VDPTOOL + i, 'deassoc'));
    // batch baseline: the vdptool loop over as many NICs, so that lldpad ends up holding as many VSIs (their
    // keep-alives share the port's one ECP channel with new requests); dropped again through qbg's client.
    const vb = await timedBatch(() => poolBounded(BATCH, 1, (i) => ls.vdptool(2 * VDPTOOL + i, 'assoc'), BATCH_DEADLINE_MS));
    await pool(vb.started, 1, (i) => ls.vdptoolDrop(2 * VDPTOOL + i));
    const batch = await timedBatch(() => poolBounded(BATCH, HTTP_IN_FLIGHT, (i) => ls.associate(20_000 + i), BATCH_DEADLINE_MS));
    const batchFailures = [...ls.failures].map(([k, n]) => `${n}× ${k}`).join('; ');
    await pool(BATCH, HTTP_IN_FLIGHT, (i) => ls.disassociate(20_000 + i));
    // Not the shipped setting: what the batch gains when lldpad gets several requests at once (the client's
    // default is 1 because overlapping exchanges lost ECP ACKs on a loaded machine — see vdp22-client.ts).
    const wide = await withVariant(ls, { maxInFlight: VARIANT_IN_FLIGHT }, async (api) => ({
      ...(await timedBatch(() => poolBounded(BATCH, HTTP_IN_FLIGHT, (i) => api.associate(50_000 + i), BATCH_DEADLINE_MS))),
      failures: [...api.failures].map(([k, n]) => `${n}× ${k}`).join('; '),
    }));

    const vPer = (v1.ms + v2.ms) / (2 * VDPTOOL);
    const vOk = v1.ok + v2.ok;
    const seqPer = seq.ms / SEQ;
    const batchPer = batch.ms / batch.started;
    const baseline = `${fmt.ms(vPer)}/NIC (vdptool loop, ${2 * VDPTOOL} NICs, ${vOk} ok)`;
    const vbPer = vb.ms / vb.started;
    const batchBaseline = `${fmt.ms(vbPer)}/NIC (vdptool loop, ${vb.started} NICs held, ${vb.ok} ok)`;
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
        baseline: batchBaseline,
        qbg: `${fmt.ms(batchPer)}/NIC, ${(batch.ms / 1000).toFixed(2)} s total (${batch.ok}/${BATCH} associated${cut(batch)})`,
        ratio: `${(vbPer / batchPer).toFixed(2)}× faster`,
        target: '≥ 2× faster',
        met: vbPer / batchPer >= 2 && batch.ok === BATCH,
        ...(batchFailures ? { note: `failed: ${batchFailures}` } : {}),
      },
      {
        what: `the same batch with the VDP22 client at ${VARIANT_IN_FLIGHT} requests in flight (not the default)`,
        baseline: batchBaseline,
        qbg: `${fmt.ms(wide.ms / wide.started)}/NIC, ${(wide.ms / 1000).toFixed(2)} s total (${wide.ok}/${BATCH} associated${cut(wide)})`,
        ratio: `${(vbPer / (wide.ms / wide.started)).toFixed(2)}× faster`,
        target: '≥ 2× faster (informational)',
        met: vbPer / (wide.ms / wide.started) >= 2 && wide.ok === BATCH,
        note: `a second qbg (own store) on the same lab after the default batch was disassociated; its VDP22 client hands lldpad ${VARIANT_IN_FLIGHT} requests at once${wide.failures ? `; failed: ${wide.failures}` : ''}`,
      },
    ];
  });
}
