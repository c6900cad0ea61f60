import t from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildServer } from '../../src/api/server.js';
import { eventsRoutes } from '../../src/api/events-routes.js';
import { RingBufferHistory, repoHistory, type TransitionHistory } from '../../src/service/event-log.js';
import { openDatabase } from '../../src/store/db.js';
import { NicRepo } from '../../src/store/nic-repo.js';
import { nicId } from '../../src/domain/nic.js';
import { stableInstanceId } from '../../src/domain/instance-uuid.js';
import { TransitionBus, type NicTransition, type ServiceNotice } from '../../src/service/transition-bus.js';
import { createMetrics } from '../../src/service/metrics.js';

interface SseEvent {
  id?: string;
  event?: string;
  data?: string;
}

/** A real HTTP client reading the stream the way EventSource does: blocks separated by a blank line. */
class SseReader {
  events: SseEvent[] = [];
  comments: string[] = [];
  retry?: number;
  status = 0;
  ended = false;
  private buf = '';
  private waiters: Array<() => void> = [];
  private req!: http.ClientRequest;

  static open(base: string, path: string, headers: Record<string, string> = {}): Promise<SseReader> {
    const r = new SseReader();
    return new Promise((resolve, reject) => {
      r.req = http.get(new URL(path, base), { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
        r.status = res.statusCode ?? 0;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => r.feed(chunk));
        res.on('end', () => {
          r.ended = true;
          r.wake();
        });
        res.on('error', () => {});
        if (r.status !== 200) {
          let body = '';
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve(Object.assign(r, { body })));
          return;
        }
        // the stream starts with "retry:": once it is here the server has subscribed to the bus
        r.until(() => r.retry !== undefined).then(() => resolve(r), reject);
      });
      r.req.on('error', reject);
    });
  }

  private feed(chunk: string) {
    this.buf += chunk;
    let i: number;
    while ((i = this.buf.indexOf('\n\n')) !== -1) {
      const block = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 2);
      const ev: SseEvent = {};
      let isEvent = false;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
        else if (line.startsWith('retry: ')) this.retry = Number(line.slice(7));
        else {
          const [k, ...rest] = line.split(': ');
          (ev as Record<string, string>)[k] = rest.join(': ');
          isEvent = true;
        }
      }
      if (isEvent) this.events.push(ev);
    }
    this.wake();
  }

  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  async until(cond: () => boolean, what = 'condition'): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!cond()) {
      if (this.ended) throw new Error(`stream ended before ${what}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; have ${JSON.stringify(this.events)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }

  async count(n: number): Promise<SseEvent[]> {
    await this.until(() => this.events.length >= n, `${n} events`);
    return this.events;
  }

  close() {
    this.req.destroy();
  }
}

let seq = 0;
const transition = (vmUuid: string, mac: string, to = 'associated'): NicTransition => ({
  kind: 'nic-transition',
  seq: ++seq,
  nicId: `nic-${mac.slice(-2)}`,
  vmUuid,
  mac,
  uplink: 's0',
  from: 'associating',
  to,
  cause: 'lldpad-answer',
  at: new Date().toISOString(),
});
const notice = (kind: ServiceNotice['kind']): ServiceNotice => ({ kind, detail: { pid: 1 }, at: new Date().toISOString() });
const VM_A = '11111111-1111-4111-8111-111111111111';
const VM_B = '22222222-2222-4222-8222-222222222222';

async function start(
  t: { teardown(fn: () => unknown): void },
  opts: {
    tokens?: { admin: string[]; hook: string[]; monitor: string[] };
    heartbeatMs?: number;
    replayPageSize?: number;
    maxBufferedBytes?: number;
    history?: TransitionHistory;
  } = {},
) {
  const bus = new TransitionBus();
  let history = opts.history;
  if (!history) {
    const ring = new RingBufferHistory(1000);
    ring.attach(bus);
    history = ring;
  }
  const metrics = createMetrics({ processMetrics: false });
  const app = await buildServer({
    logLevel: 'silent',
    tokens: opts.tokens,
    routes: [eventsRoutes({ bus, history, heartbeatMs: opts.heartbeatMs ?? 60_000, replayPageSize: opts.replayPageSize, maxBufferedBytes: opts.maxBufferedBytes, metrics })],
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const readers: SseReader[] = [];
  t.teardown(async () => {
    for (const r of readers) r.close();
    await app.close();
  });
  const open = async (path: string, headers?: Record<string, string>) => {
    const r = await SseReader.open(base, path, headers);
    readers.push(r);
    return r;
  };
  return { bus, app, base, open, metrics };
}

t.test('live events, then a reconnect with Last-Event-ID replays exactly what was missed', async (t) => {
  const { bus, open, metrics } = await start(t, { replayPageSize: 2 });
  const first = await open('/events');
  t.equal(first.retry, 2000, 'suggests a reconnect delay');
  const sent = [transition(VM_A, '52:54:00:00:00:01'), transition(VM_A, '52:54:00:00:00:02'), transition(VM_B, '52:54:00:00:00:03')];
  for (const e of sent) bus.publish(e);
  bus.publish(notice('lldpad-restarted'));
  const got = await first.count(4);
  t.same(got.slice(0, 3).map((e) => e.id), sent.map((e) => String(e.seq)), 'transitions carry their seq as SSE id');
  t.same(got.map((e) => e.event), ['nic-transition', 'nic-transition', 'nic-transition', 'lldpad-restarted']);
  t.same(JSON.parse(got[0].data!), sent[0]);
  t.equal(got[3].id, undefined, 'notices have no id: they do not move Last-Event-ID');
  t.match((await metrics.exposition()).body, /qbg_event_stream_clients 1/);

  first.close();
  const lastSeen = got[2].id!;
  // what happens while the client is away
  const missed = [transition(VM_A, '52:54:00:00:00:04', 'lost'), transition(VM_B, '52:54:00:00:00:05'), transition(VM_B, '52:54:00:00:00:06'), transition(VM_A, '52:54:00:00:00:07')];
  for (const e of missed) bus.publish(e);
  bus.publish(notice('lldpad-unreachable')); // not persisted: not replayed

  const again = await open('/events', { 'last-event-id': lastSeen });
  const live = transition(VM_A, '52:54:00:00:00:08');
  bus.publish(live);
  const replayed = await again.count(5);
  t.same(replayed.map((e) => e.id), [...missed, live].map((e) => String(e.seq)), 'replay in order (across pages of 2), no gap, no duplicate, then live');
  t.same(replayed.map((e) => JSON.parse(e.data!).to), ['lost', 'associated', 'associated', 'associated', 'associated']);

  const bySince = await open(`/events?since=${missed[2].seq}`);
  await bySince.count(2);
  t.same(bySince.events.map((e) => e.id), [String(missed[3].seq), String(live.seq)], '?since= works like Last-Event-ID');
});

t.test('filters by vm, nic and kind; replay honours them too', async (t) => {
  const { bus, open } = await start(t);
  const a1 = transition(VM_A, '52:54:00:00:00:11');
  bus.publish(a1);
  bus.publish(transition(VM_B, '52:54:00:00:00:12'));

  const byVm = await open(`/events?vm=${VM_A}&since=0`);
  const byNic = await open('/events?nic=52:54:00:00:00:12');
  const notices = await open('/events?kind=notice');
  const restartsAndTransitions = await open(`/events?kind=lldpad-restarted,nic-transition&vm=${VM_B}`);

  bus.publish(notice('reconcile-finished'));
  bus.publish(transition(VM_A, '52:54:00:00:00:13'));
  bus.publish(transition(VM_B, '52:54:00:00:00:12', 'lost'));
  bus.publish(notice('lldpad-restarted'));
  const endA = transition(VM_A, '52:54:00:00:00:11', 'disassociated');
  bus.publish(endA);

  await byVm.until(() => byVm.events.some((e) => e.id === String(endA.seq)), 'the last VM A event');
  t.same(byVm.events.map((e) => JSON.parse(e.data!).mac), ['52:54:00:00:00:11', '52:54:00:00:00:13', '52:54:00:00:00:11'], 'replay and live, VM A only, no notices');

  await byNic.count(1);
  await notices.count(2);
  await restartsAndTransitions.count(2);
  // the same last event reached every stream it matched; give the others a moment by waiting on a later marker
  const marker = notice('uplink-drift');
  bus.publish(marker);
  await notices.count(3);
  t.same(byNic.events.map((e) => JSON.parse(e.data!).to), ['lost'], 'nic matches the MAC');
  t.same(notices.events.map((e) => e.event), ['reconcile-finished', 'lldpad-restarted', 'uplink-drift']);
  t.same(restartsAndTransitions.events.map((e) => e.event), ['nic-transition', 'lldpad-restarted'], 'explicit kinds bring notices back alongside a vm filter');
});

t.test('heartbeats keep an idle stream alive', async (t) => {
  const { open } = await start(t, { heartbeatMs: 30 });
  const r = await open('/events');
  await r.until(() => r.comments.length >= 2, 'two heartbeats');
  t.same(r.comments.slice(0, 2), ['heartbeat', 'heartbeat']);
  t.equal(r.events.length, 0, 'a heartbeat is a comment, not an event');
});

t.test('bad input names the field; auth by header or ?token=; close ends open streams', async (t) => {
  const tokens = { admin: ['adm'], hook: [], monitor: ['mon'] };
  const { app, base, open } = await start(t, { tokens });
  const noToken = await SseReader.open(base, '/events');
  t.equal(noToken.status, 401);
  const badKind = await SseReader.open(base, '/events?kind=everything&token=mon');
  t.equal(badKind.status, 400);
  t.match(JSON.parse((badKind as unknown as { body: string }).body), { code: 'QBG_ERR_ENUM', field: 'kind' });
  const badId = await SseReader.open(base, '/events?token=mon', { 'last-event-id': 'abc' });
  t.equal(badId.status, 400);
  t.match(JSON.parse((badId as unknown as { body: string }).body), { code: 'QBG_ERR_FIELD_TYPE', field: 'Last-Event-ID' });

  const viaQuery = await open('/events?token=mon');
  const viaHeader = await open('/events', { authorization: 'Bearer mon' });
  t.equal(viaQuery.status, 200);
  t.equal(viaHeader.status, 200);
  await app.close();
  await viaQuery.until(() => viaQuery.ended, 'end of stream');
  await viaHeader.until(() => viaHeader.ended, 'end of stream');
  t.pass('server close ended both streams');
});

t.test('replay from the persisted NIC history (store rows as transitions)', async (t) => {
  const repo = new NicRepo(openDatabase(':memory:'));
  const vmUuid = '33333333-3333-4333-8333-333333333333';
  const mac = '52:54:00:aa:bb:01';
  const id = nicId(vmUuid, mac);
  const params = {
    vmUuid, mac, uplink: 'eth3', typeName: 'web', typeId: 1193047, typeIdVersion: 2, managerId2: '0'.repeat(30) + '10',
    filterFormat: 'vlan-mac' as const, vlan: 100, instanceUuid: stableInstanceId(vmUuid, mac),
  };
  const a = repo.applyEvent(id, { event: 'request-assoc', cause: 'api-assoc', params, desiredMode: 'assoc' });
  const b = repo.applyEvent(id, { event: 'answer-rejected', cause: 'lldpad-answer', reasonCode: 3, reason: 'insufficient resources' });
  const { open } = await start(t, { history: repoHistory(repo), replayPageSize: 1 });
  const r = await open(`/events?since=0`);
  await r.count(2);
  t.same(r.events.map((e) => e.id), [String(a.entry.seq), String(b.entry.seq)]);
  t.same(JSON.parse(r.events[1].data!), {
    kind: 'nic-transition', seq: b.entry.seq, nicId: id, vmUuid, mac, uplink: 'eth3', from: 'associating', to: 'failed',
    cause: 'lldpad-answer', reasonCode: 3, reason: 'insufficient resources', at: b.entry.at,
  });
  const later = await open(`/events?since=${a.entry.seq}`);
  await later.count(1);
  t.equal(later.events[0].id, String(b.entry.seq), 'only what follows the given id');
});

t.test('a long replay follows the pace of the client instead of tripping the slow-client limit', async (t) => {
  const ring = new RingBufferHistory(50_000);
  const first = seq + 1;
  for (let i = 0; i < 20_000; i++) ring.record(transition(i % 2 ? VM_A : VM_B, `52:54:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`));
  const { bus, open } = await start(t, { history: ring, replayPageSize: 500, maxBufferedBytes: 64 * 1024 });
  const r = await open('/events?since=0');
  const live = transition(VM_A, '52:54:00:ff:ff:ff');
  bus.publish(live);
  await r.count(20_001);
  t.equal(r.events.length, 20_001);
  t.equal(r.events[0].id, String(first));
  t.equal(r.events[19_999].id, String(first + 19_999));
  t.equal(r.events[20_000].id, String(live.seq), 'the live event after the whole replay');
  t.equal(r.ended, false, 'still connected');
});

t.test('a client that stops reading is dropped (it resumes by id), without disturbing the others', async (t) => {
  const { bus, base, open, metrics } = await start(t, { maxBufferedBytes: 16 * 1024 });
  const reader = await open('/events');
  // a stalled client: connected, subscribed, never reads
  const stalled = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.get(`${base}/events`, (res) => {
      res.pause();
      resolve(res);
    });
    req.on('error', reject);
    t.teardown(() => req.destroy());
  });
  await new Promise((r) => setTimeout(r, 50)); // the server has written "retry:" and subscribed
  const burst: NicTransition[] = [];
  // steady traffic (a few events per turn of the event loop): the reading client keeps up, the stalled one cannot
  for (let i = 0; i < 20_000; i++) {
    const e = transition(VM_A, '52:54:00:00:00:21');
    burst.push(e);
    bus.publish(e);
    if (i % 20 === 19) await new Promise((r) => setImmediate(r));
  }
  await reader.count(20_000);
  t.equal(reader.events.at(-1)!.id, String(burst.at(-1)!.seq), 'the reading client got everything');
  const ended = new Promise<void>((resolve) => {
    stalled.on('end', () => resolve());
    stalled.on('close', () => resolve());
  });
  stalled.resume();
  stalled.on('data', () => {});
  await ended;
  t.pass('the stalled stream was ended by the server');
  const text = (await metrics.exposition()).body;
  t.match(text, /qbg_event_stream_clients 1\n/, 'only the reading client is left');
});
