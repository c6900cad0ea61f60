// Fault 2: the bridge's lldpad stops (lab.sh stop-lldpad --ns br). The station's lldpad loses its VDP peer: its
// keep-alives go unanswered and it ends the VSIs (~15–17 s), telling its clients; qbg marks the NICs lost (or
// failed when its own repair attempt is refused) and POSTs a webhook alert to a real local receiver. When the bridge
// is back (its EVB TLV heard again) qbg re-associates the uplink's NICs. Nothing lost at the end.
import t from 'tap';
import { bounded, nicBody, nicIdOf, settledAndHeld, startReceiver, startRig, until } from './helpers.js';

t.test('bridge lldpad stopped: NICs lost + webhook alert; bridge back: NICs re-associated', async (t) => {
  const rx = await startReceiver(t);
  const rig = await startRig(t, { webhooks: [{ url: rx.url }] }); // default events: failures and lldpad notices
  const N = 20;
  const ids = Array.from({ length: N }, (_, i) => nicIdOf(nicBody(i)));
  const answers = await bounded(N, 8, (i) => rig.api('POST', '/nics/associate', nicBody(i)));
  t.ok(answers.every((a) => a.status === 200), `${N} NICs associated with the bridge up`);
  await settledAndHeld(rig.lab, rig.qbg.url, ids, 'associated', 15_000);

  const stoppedAt = Date.now();
  await rig.lab.killLldpad('br', 'TERM');
  // lldpad ends each VSI when its keep-alive goes unanswered (~20 s) and tells qbg; the reconciler then asks again
  // at once and keeps retrying with backoff, so a NIC does not sit still in "lost": its history proves the loss.
  const LOSS = ['lost', 'failed', 'timed-out'];
  const lostAt = await until(
    'every NIC recorded as lost/failed after the bridge stopped',
    async () => {
      const hist = await bounded(N, 8, async (i) => (await rig.api('GET', `/nics/${encodeURIComponent(ids[i])}/history?limit=1000`)).body.items);
      const missing = hist.filter((items: Array<{ to: string; at: string }>) => !items.some((h) => LOSS.includes(h.to) && Date.parse(h.at) >= stoppedAt));
      if (missing.length) throw new Error(`${missing.length} NICs without a loss recorded yet`);
      return hist;
    },
    60_000,
    1000,
  );
  t.equal(lostAt.length, N, `all ${N} NICs recorded the loss ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s after the bridge stopped`);
  const causes = new Set(lostAt.flatMap((items: Array<{ to: string; cause: string; reason?: string }>) => items.filter((h) => LOSS.includes(h.to)).map((h) => `${h.to}(${h.cause})`)));
  t.comment(`loss transitions seen: ${[...causes].join(', ')}`);
  t.ok(lostAt.every((items: Array<{ to: string; reason?: string }>) => items.some((h) => LOSS.includes(h.to) && h.reason)), 'each loss records a reason');

  const alert = await until(
    'a webhook alert about a lost/failed NIC at the local receiver',
    async () => rx.received.find((p) => /^nic\.(lost|failed|timed-out)$/.test(p.event) && ids.includes(p.data?.nicId)),
    20_000,
  );
  t.match(alert, { event: /^nic\./, data: { kind: 'nic-transition', uplink: 's0' } }, `webhook delivered: ${alert.event} for ${alert.data.nicId}`);
  t.ok(typeof alert.deliveryId === 'string' && alert.deliveryId.length > 0, 'the alert carries a delivery id');

  const uplink = await until('the uplink shows the bridge gone', async () => {
    const r = await rig.api('GET', '/uplinks/s0');
    return r.body?.peerEvbSeen === false ? r.body : undefined;
  }, 30_000).catch(() => undefined);
  t.comment(uplink ? 'GET /uplinks/s0: peerEvbSeen false while the bridge is down' : 'GET /uplinks/s0 kept peerEvbSeen true (LLDP TTL not expired)');

  await rig.lab.startLldpad('br');
  const back = await settledAndHeld(rig.lab, rig.qbg.url, ids, 'associated', 90_000);
  t.ok(back.held.every((n) => n === 1), `bridge back: all ${N} NICs re-associated, each VSI held once`);
  const history = await rig.api('GET', `/nics/${encodeURIComponent(ids[0])}/history?limit=1000`);
  t.comment(`history of one NIC: ${history.body.items.map((h: { to: string; cause: string }) => `${h.to}(${h.cause})`).join(' → ')}`);
});
