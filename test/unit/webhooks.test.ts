import t from 'tap';
import http from 'node:http';
import { createHmac } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { getEventListeners } from 'node:events';
import { abortableSleep, WebhookDispatcher, parseWebhookTargets, type WebhookPayload } from '../../src/service/webhooks.js';
import { TransitionBus, type NicTransition, type ServiceNotice } from '../../src/service/transition-bus.js';
import { createMetrics } from '../../src/service/metrics.js';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  payload: WebhookPayload;
}

/** A real receiver on 127.0.0.1:0. `answer` decides per request: a status code, or 'hang' to never answer. */
async function receiver(t: { teardown(fn: () => unknown): void }, answer: (n: number, p: WebhookPayload) => number | 'hang') {
  const got: Received[] = [];
  let n = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const payload = JSON.parse(body) as WebhookPayload;
      got.push({ headers: req.headers, body, payload });
      const a = answer(++n, payload);
      if (a === 'hang') return;
      res.writeHead(a, { 'content-type': 'text/plain' }).end('thanks');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise((r) => server.close(r));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

let seq = 0;
const transition = (to: string): NicTransition => ({
  kind: 'nic-transition', seq: ++seq, nicId: 'n1', vmUuid: '11111111-1111-4111-8111-111111111111', mac: '52:54:00:00:00:01',
  uplink: 's0', from: 'associating', to, cause: 'lldpad-answer', reasonCode: to === 'failed' ? 3 : undefined,
  reason: to === 'failed' ? 'insufficient resources' : undefined, at: new Date().toISOString(),
});
const notice = (kind: ServiceNotice['kind']): ServiceNotice => ({ kind, detail: { pid: 7 }, at: new Date().toISOString() });

t.test('a receiver that fails first gets the same delivery again, signed, after backoff', async (t) => {
  const secret = 's3cret';
  const rx = await receiver(t, (n) => (n <= 2 ? 503 : 204));
  const metrics = createMetrics({ processMetrics: false });
  const bus = new TransitionBus();
  const hooks = new WebhookDispatcher([{ url: rx.url, secret }], { backoffMs: 10, maxBackoffMs: 40, timeoutMs: 2000, metrics });
  hooks.attach(bus);
  t.teardown(() => hooks.close());

  bus.publish(transition('associated')); // routine: not a default webhook event
  const failed = transition('failed');
  bus.publish(failed);
  await hooks.drain();

  t.equal(rx.got.length, 3, 'two failures, then success');
  const ids = new Set(rx.got.map((g) => g.payload.deliveryId));
  t.equal(ids.size, 1, 'one delivery id across retries');
  const last = rx.got[2];
  t.same(last.payload.data, failed);
  t.equal(last.payload.event, 'nic.failed');
  t.equal(last.headers['x-qbg-event'], 'nic.failed');
  t.equal(last.headers['content-type'], 'application/json');
  t.equal(last.headers['x-qbg-signature'], `sha256=${createHmac('sha256', secret).update(last.body).digest('hex')}`, 'HMAC of the exact body');
  t.match(hooks.stats()[0], { delivered: 1, failed: 0, dropped: 0, lastError: 'HTTP 503' });
  const text = (await metrics.exposition()).body;
  t.match(text, /qbg_webhook_deliveries_total\{outcome="retry"\} 2/);
  t.match(text, /qbg_webhook_deliveries_total\{outcome="delivered"\} 1/);
});

t.test('event selection per receiver; a 4xx is not retried', async (t) => {
  const all = await receiver(t, () => 200);
  const lostOnly = await receiver(t, () => 200);
  const refusing = await receiver(t, () => 410);
  const hooks = new WebhookDispatcher(
    [{ url: all.url }, { url: lostOnly.url, events: ['nic.lost'] }, { url: refusing.url, events: ['*'] }],
    { backoffMs: 10 },
  );
  t.teardown(() => hooks.close());
  for (const e of [transition('associated'), transition('lost'), transition('timed-out'), notice('lldpad-restarted'), notice('reconcile-started')]) hooks.offer(e);
  await hooks.drain();
  t.same(all.got.map((g) => g.payload.event), ['nic.lost', 'nic.timed-out', 'lldpad-restarted'], 'defaults: failures and notable notices');
  t.same(lostOnly.got.map((g) => g.payload.event), ['nic.lost']);
  t.equal(all.got[0].headers['x-qbg-signature'], undefined, 'no secret, no signature');
  t.equal(refusing.got.length, 5, "'*' gets everything, each tried once");
  t.match(hooks.stats()[2], { delivered: 0, failed: 5, lastError: 'HTTP 410' });
});

t.test('a hanging receiver neither blocks the bus nor the other receivers; its queue is bounded', async (t) => {
  const stuck = await receiver(t, () => 'hang');
  const healthy = await receiver(t, () => 200);
  const bus = new TransitionBus();
  const hooks = new WebhookDispatcher([{ url: stuck.url }, { url: healthy.url }], { queueSize: 3, timeoutMs: 60_000, backoffMs: 10 });
  hooks.attach(bus);
  t.teardown(() => hooks.close());

  // one event at a time: each reaches the healthy receiver while the stuck one still waits on its first
  const sent: NicTransition[] = [];
  for (let i = 0; i < 10; i++) {
    const e = transition('lost');
    sent.push(e);
    bus.publish(e); // returns at once although the first receiver never answers
    await until(() => healthy.got.length === i + 1, `healthy receiver got event ${i + 1}`);
  }
  t.same(healthy.got.map((g) => (g.payload.data as NicTransition).seq), sent.map((e) => e.seq), 'every event, in order');
  await until(() => hooks.stats()[1].delivered === 10, 'healthy deliveries counted');
  t.match(hooks.stats()[0], { delivered: 0, queued: 3, dropped: 6 }, 'stuck: one in flight, 3 held, the 6 oldest of the rest dropped');
  t.equal(stuck.got.length, 1, 'still on its first attempt');
  t.match(hooks.stats()[1], { delivered: 10, dropped: 0 });
});

t.test('each attempt has a time limit; after the last attempt the event is given up', async (t) => {
  const stuck = await receiver(t, () => 'hang');
  const hooks = new WebhookDispatcher([{ url: stuck.url }], { timeoutMs: 100, maxAttempts: 2, backoffMs: 10 });
  t.teardown(() => hooks.close());
  const e = transition('timed-out');
  hooks.offer(e);
  await hooks.drain();
  t.equal(stuck.got.length, 2, 'two attempts');
  t.same(stuck.got.map((g) => (g.payload.data as NicTransition).seq), [e.seq, e.seq]);
  t.match(hooks.stats()[0], { delivered: 0, failed: 1, queued: 0, lastError: 'no answer within 100 ms' });
});

t.test('a wait between attempts leaves no listener on the stop signal (a receiver that stays down is retried for every event)', async (t) => {
  const stop = new AbortController();
  for (let i = 0; i < 20; i++) await abortableSleep(1, stop.signal);
  t.equal(getEventListeners(stop.signal, 'abort').length, 0, 'none left after 20 waits that ran out');
  const waiting = abortableSleep(60_000, stop.signal);
  t.equal(getEventListeners(stop.signal, 'abort').length, 1, 'one while a wait runs');
  stop.abort();
  await waiting; // ends at the abort, not after a minute
  t.equal(getEventListeners(stop.signal, 'abort').length, 0, 'none after the abort');
});

t.test('close() abandons a hanging attempt instead of waiting for it', async (t) => {
  const stuck = await receiver(t, () => 'hang');
  const hooks = new WebhookDispatcher([{ url: stuck.url }], { timeoutMs: 60_000, maxAttempts: 5 });
  hooks.offer(transition('failed'));
  await until(() => stuck.got.length === 1, 'first attempt');
  await hooks.close();
  t.match(hooks.stats()[0], { delivered: 0, failed: 1 });
  hooks.offer(transition('failed'));
  t.equal(hooks.stats()[0].queued, 0, 'nothing is queued after close');
});

t.test('webhook config is checked field by field', async (t) => {
  t.same(parseWebhookTargets(undefined), []);
  t.same(parseWebhookTargets([{ url: 'https://ops.example/qbg', events: ['nic.lost'], secret: 'x' }]), [
    { url: 'https://ops.example/qbg', events: ['nic.lost'], secret: 'x' },
  ]);
  t.throws(() => parseWebhookTargets([{ url: 'ftp://x' }]), { code: 'QBG_ERR_FIELD_TYPE', field: 'webhooks[0].url' });
  t.throws(() => parseWebhookTargets([{ url: 'http://x', event: ['a'] }]), { code: 'QBG_ERR_UNKNOWN_FIELD', field: 'webhooks[0].event' });
  t.throws(() => parseWebhookTargets([{ url: 'http://x' }, { url: 'http://y', events: 'nic.lost' }]), { code: 'QBG_ERR_FIELD_TYPE', field: 'webhooks[1].events' });
  t.throws(() => parseWebhookTargets({ url: 'http://x' }), { code: 'QBG_ERR_FIELD_TYPE', field: 'webhooks' });
});
