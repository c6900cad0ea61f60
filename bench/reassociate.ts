// Re-association after an lldpad restart: 500 NICs associated through the API, the station lldpad stopped and
// started again (it forgets every VSI), then the clock runs until the store shows every NIC associated again by
// an answer of the NEW lldpad (a history row after the restart). Nobody but qbg's reconciler does this: libvirt
// never re-associates. The time includes lldpad's own start-up and the EVB exchange that VDP needs first. Target:
// ≤ 1.2× the time the same 500 NICs took as a batch through the API (50 requests in flight) in the same run.
import { labStartLldpad, labStopLldpad } from '../src/lab/lab.js';
import type { QbgEvent } from '../src/service/transition-bus.js';
import { pollUntil } from './common.js';
import { pool, withLabService } from './lab-service.js';
import { fmt, type BenchRow } from './table.js';

const NICS = 500;
const TARGET_RATIO = 1.2;
const GIVE_UP_MS = 120_000;

export async function benchReassociate(): Promise<BenchRow[]> {
  return withLabService(async (ls) => {
    const tb = performance.now();
    const ok = await pool(NICS, 50, (i) => ls.associate(30_000 + i));
    const batchMs = performance.now() - tb;
    // a NIC whose answer lldpad lost is failed (the reconciler retries it later): wait for those that were associated
    if (ok < NICS * 0.95) throw new Error(`only ${ok}/${NICS} NICs associated before the restart`);
    // The timeline, from the stop on (shown relative to t0, the clock's start: events before it are negative).
    const marks: Array<{ what: string; at: number }> = [];
    const tStop = performance.now();
    let t0 = 0;
    let answers = 0;
    const off = ls.svc.bus.subscribe((e: QbgEvent) => {
      const at = performance.now();
      if (e.kind === 'nic-transition') {
        if (e.to !== 'associated') return;
        answers++;
        if (answers === 1 || answers === Math.round(ok / 2) || answers === ok) marks.push({ what: `answer ${answers}`, at });
      } else if (e.kind === 'reconcile-started') marks.push({ what: `sweep ${String(e.detail.reason)} (${String(e.detail.nics)} NICs)`, at });
      else if (e.kind === 'reconcile-finished') {
        const d = e.detail as { reason: string; repaired: number; failed: number };
        marks.push({ what: `${d.reason} done: ${d.repaired} repaired, ${d.failed} failed`, at });
      } else marks.push({ what: e.kind, at });
    });
    try {
      await labStopLldpad(ls.lab.id, 'st1');
      const stopped = performance.now();
      const waitsBefore = { ...ls.client.vdpStartWaits };
      await labStartLldpad(ls.lab.id, 'st1');
      t0 = performance.now();
      const since = new Date(Date.now() - 50).toISOString();
      const count = ls.svc.db.prepare(
        `SELECT count(DISTINCT nic_id) AS n FROM nic_history WHERE to_state = 'associated' AND at >= ? AND nic_id IN (SELECT id FROM nics WHERE state = 'associated')`,
      );
      let back = 0;
      let waited: number;
      try {
        waited = await pollUntil('all NICs associated again', () => (back = (count.get(since) as { n: number }).n) >= ok, GIVE_UP_MS, 50);
      } catch {
        waited = NaN;
      }
      const refusals = ls.client.vdpStartWaits.refusals - waitsBefore.refusals;
      const timeline = marks
        .map((m) => `${m.what} ${m.at >= t0 ? '+' : '−'}${(Math.abs(m.at - t0) / 1000).toFixed(2)} s`)
        .join(', ');
      return [
        {
          what: `re-association of ${NICS} NICs after an lldpad restart (from the new lldpad's start; ${ok}/${NICS} were associated before it)`,
          baseline: `${(batchMs / 1000).toFixed(2)} s (the same ${NICS} NICs associated as a batch through the API before the restart)`,
          qbg: Number.isNaN(waited) ? `${back}/${ok} back after ${GIVE_UP_MS / 1000} s` : `${(waited / 1000).toFixed(2)} s (${fmt.ms(waited / NICS)}/NIC)`,
          ratio: Number.isNaN(waited) ? '—' : fmt.x(waited / batchMs, 'batch time'),
          target: `≤ ${TARGET_RATIO}× the batch time`,
          met: waited <= TARGET_RATIO * batchMs,
          note:
            `lldpad stopped in ${((stopped - tStop) / 1000).toFixed(1)} s, started in ${((t0 - stopped) / 1000).toFixed(1)} s (the clock starts when the lab script returns; ` +
            `not counted); timeline: ${timeline || 'no notices'}; lldpad refused ${refusals} requests while its VDP started (the VDP22 client asked again)`,
        },
      ];
    } finally {
      off();
    }
  });
}
