// The NIC store: every transition is one transaction with its history row; illegal moves write nothing;
// filters and paging answer with the total.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/db.js';
import { FILTER_USER_SQL, FOREIGN_WRITE_MS, NicRepo } from '../../src/store/nic-repo.js';
import { until } from '../helpers/until.js';
import { nicId, type NicParams } from '../../src/domain/nic.js';
import { stableInstanceId } from '../../src/domain/instance-uuid.js';
import { isQbgError } from '../../src/domain/errors.js';

function params(i: number, over: Partial<NicParams> = {}): NicParams {
  const vmUuid = `00000000-0000-4000-8000-${String(Math.floor(i / 4)).padStart(12, '0')}`;
  const mac = `52:54:00:00:00:${(i % 256).toString(16).padStart(2, '0')}`;
  return {
    vmUuid,
    mac,
    uplink: i % 2 ? 'eth1' : 'eth0',
    typeName: i % 3 ? 'web' : 'db',
    typeId: 1193047,
    typeIdVersion: 2,
    managerId2: '0'.repeat(30) + '10',
    filterFormat: 'vlan-mac',
    vlan: 100,
    instanceUuid: stableInstanceId(vmUuid, mac),
    ...over,
  };
}

function fresh(): NicRepo {
  return new NicRepo(openDatabase(':memory:'));
}

t.test('create on first request, then answer: state and history in step', async (t) => {
  const repo = fresh();
  const p = params(1);
  const id = nicId(p.vmUuid, p.mac);
  const a = repo.applyEvent(id, { event: 'request-assoc', cause: 'api-associate', params: p, desiredMode: 'assoc' });
  t.equal(a.nic.state, 'associating');
  t.equal(a.nic.desiredMode, 'assoc');
  t.equal(a.entry.from, 'new');
  t.equal(a.entry.to, 'associating');
  const b = repo.applyEvent(id, { event: 'answer-accepted', cause: 'lldpad-answer' });
  t.equal(b.nic.state, 'associated');
  t.ok(b.entry.seq > a.entry.seq);
  t.same(
    repo.history(id).items.map((e) => [e.from, e.to, e.event, e.cause]),
    [
      ['new', 'associating', 'request-assoc', 'api-associate'],
      ['associating', 'associated', 'answer-accepted', 'lldpad-answer'],
    ],
  );
  t.same(repo.get(id), b.nic);
  t.same(repo.byInstanceUuid(p.instanceUuid), b.nic);
});

t.test("a new NIC's row is written once, already in its first state, as applyEvent returns it", async (t) => {
  const repo = fresh();
  const seq = repo.changeSeq();
  const p = params(5, { vlan: 0 });
  const id = nicId(p.vmUuid, p.mac);
  // libvirt's NIC seen held at its first observation: state, owner and the VID the bridge assigned in one write
  const a = repo.applyEvent(id, { event: 'observed-associated', cause: 'observe-held', params: p, owner: 'libvirt', desiredMode: 'assoc', bridgeVlan: 300 });
  t.same(repo.get(id), a.nic, 'stored as returned');
  t.equal(a.nic.state, 'associated');
  t.equal(a.nic.owner, 'libvirt');
  t.equal(a.nic.bridgeVlan, 300);
  t.equal(a.nic.createdAt, a.nic.updatedAt);
  t.same(repo.history(id).items.map((e) => [e.from, e.to]), [['new', 'associated']], "the history still starts at 'new'");
  t.equal(repo.count({ state: 'associated' }), 1, 'counted under its first state');
  t.equal(repo.count({ state: 'new' }), 0, "never counted as 'new'");
  t.ok(repo.changeSeq() > seq, 'the change sequence moved');
});

t.test('a failure keeps its reason until a new request clears it', async (t) => {
  const repo = fresh();
  const p = params(2);
  const id = nicId(p.vmUuid, p.mac);
  repo.applyEvent(id, { event: 'request-assoc', cause: 'api', params: p, desiredMode: 'assoc' });
  const f = repo.applyEvent(id, { event: 'answer-rejected', cause: 'lldpad-answer', reasonCode: 4, reason: 'Insufficient resources at bridge' });
  t.equal(f.nic.state, 'failed');
  t.equal(f.nic.reasonCode, 4);
  t.equal(f.nic.reason, 'Insufficient resources at bridge');
  t.equal(repo.history(id).items[1].reasonCode, 4);
  const r = repo.applyEvent(id, { event: 'request-assoc', cause: 'reconcile' });
  t.equal(r.nic.reasonCode, undefined);
  t.equal(r.nic.reason, undefined);
});

t.test('an illegal transition writes nothing', async (t) => {
  const repo = fresh();
  const p = params(3);
  const id = nicId(p.vmUuid, p.mac);
  repo.applyEvent(id, { event: 'request-assoc', cause: 'api', params: p, desiredMode: 'assoc' });
  const before = repo.get(id);
  t.throws(() => repo.applyEvent(id, { event: 'request-deassoc', cause: 'api', desiredMode: 'deassoc' }), { code: 'QBG_ERR_ILLEGAL_TRANSITION' });
  t.same(repo.get(id), before);
  t.equal(repo.history(id).total, 1);
  // an illegal first event must not leave a half-created NIC behind either
  const q = params(4);
  const qid = nicId(q.vmUuid, q.mac);
  t.throws(() => repo.applyEvent(qid, { event: 'answer-accepted', cause: 'x', params: q }), { code: 'QBG_ERR_ILLEGAL_TRANSITION' });
  t.equal(repo.get(qid), undefined);
  t.equal(repo.history(qid).total, 0);
});

t.test('unknown NIC without params is NIC_NOT_FOUND', async (t) => {
  const repo = fresh();
  try {
    repo.applyEvent('nope', { event: 'request-assoc', cause: 'x' });
    t.fail('should throw');
  } catch (e) {
    t.ok(isQbgError(e) && e.code === 'QBG_ERR_NIC_NOT_FOUND');
  }
});

t.test('new parameters are pinned with the request', async (t) => {
  const repo = fresh();
  const p = params(5);
  const id = nicId(p.vmUuid, p.mac);
  repo.applyEvent(id, { event: 'request-assoc', cause: 'api', params: p, desiredMode: 'assoc' });
  repo.applyEvent(id, { event: 'answer-accepted', cause: 'lldpad-answer' });
  const r = repo.applyEvent(id, { event: 'request-assoc', cause: 'api', params: { ...p, vlan: 200, typeIdVersion: 3 } });
  t.equal(r.nic.vlan, 200);
  t.equal(r.nic.typeIdVersion, 3);
  t.equal(r.nic.createdAt <= r.nic.updatedAt, true);
});

t.test('filters, paging and totals', async (t) => {
  const repo = fresh();
  const N = 30;
  for (let i = 0; i < N; i++) {
    const p = params(i);
    const id = nicId(p.vmUuid, p.mac);
    repo.applyEvent(id, { event: 'request-assoc', cause: 'api', params: p, desiredMode: 'assoc' });
    if (i % 5 === 0) repo.applyEvent(id, { event: 'answer-timeout', cause: 'lldpad-answer' });
    else repo.applyEvent(id, { event: 'answer-accepted', cause: 'lldpad-answer' });
  }
  const all = repo.list({}, { limit: 1000, offset: 0 });
  t.equal(all.total, N);
  t.equal(all.items.length, N);
  const expectUplink = all.items.filter((n) => n.uplink === 'eth1').length;
  t.equal(repo.list({ uplink: 'eth1' }).total, expectUplink);
  t.ok(repo.list({ uplink: 'eth1' }).items.every((n) => n.uplink === 'eth1'));
  t.equal(repo.list({ state: 'timed-out' }).total, all.items.filter((n) => n.state === 'timed-out').length);
  t.equal(repo.list({ state: ['timed-out', 'associated'] }).total, N);
  t.equal(repo.list({ typeName: 'db' }).total, all.items.filter((n) => n.typeName === 'db').length);
  const vm = all.items[7].vmUuid;
  t.equal(repo.list({ vmUuid: vm }).total, all.items.filter((n) => n.vmUuid === vm).length);
  t.equal(repo.list({ vmUuid: vm, uplink: 'eth0', state: 'associated' }).total, all.items.filter((n) => n.vmUuid === vm && n.uplink === 'eth0' && n.state === 'associated').length);

  // pages cover everything once, in a stable order
  const seen: string[] = [];
  for (let off = 0; off < N; off += 7) {
    const page = repo.list({}, { limit: 7, offset: off });
    t.equal(page.total, N);
    seen.push(...page.items.map((n) => n.id));
  }
  t.same(seen, all.items.map((n) => n.id));
  t.equal(new Set(seen).size, N);
  t.equal(repo.all({ desiredMode: ['assoc'] }).length, N);
  t.equal(repo.all({ desiredMode: ['deassoc'] }).length, 0);
});

t.test('history cursor paging and global replay', async (t) => {
  const repo = fresh();
  const p = params(9);
  const id = nicId(p.vmUuid, p.mac);
  repo.applyEvent(id, { event: 'request-assoc', cause: 'api', params: p, desiredMode: 'assoc' });
  for (let i = 0; i < 5; i++) {
    repo.applyEvent(id, { event: 'answer-accepted', cause: 'lldpad-answer' });
    repo.applyEvent(id, { event: 'request-assoc', cause: 'api' });
  }
  const h = repo.history(id);
  t.equal(h.total, 11);
  const first = repo.history(id, { limit: 4 });
  const rest = repo.history(id, { afterSeq: first.items[3].seq });
  t.same([...first.items, ...rest.items], h.items);
  t.same(repo.historySince(h.items[8].seq), h.items.slice(9));
});

t.test('forget removes the NIC and keeps its history', async (t) => {
  const repo = fresh();
  const p = params(11);
  const id = nicId(p.vmUuid, p.mac);
  repo.applyEvent(id, { event: 'request-assoc', cause: 'api', params: p, desiredMode: 'assoc' });
  t.equal(repo.forget(id), true);
  t.equal(repo.get(id), undefined);
  t.equal(repo.forget(id), false);
  t.equal(repo.history(id).total, 1);
});

t.test('cursor paging: next walks every match once, in listing order, for each filter', async (t) => {
  const repo = fresh();
  const N = 40;
  for (let i = 0; i < N; i++) {
    const p = params(i);
    // many NICs share one creation instant: the cursor must order by id within it
    repo.applyEvent(nicId(p.vmUuid, p.mac), { event: 'request-assoc', cause: 'api', params: p, desiredMode: 'assoc', at: `2026-01-01T00:00:0${i % 3}.000Z` });
  }
  for (const filter of [{}, { uplink: 'eth1' }, { typeName: 'db' }, { state: 'associating' as const }, { vmUuid: params(8).vmUuid }]) {
    const expected = repo.list(filter, { limit: 1000 }).items.map((n) => n.id);
    const seen: string[] = [];
    let page = repo.list(filter, { limit: 3 });
    for (;;) {
      t.equal(page.total, expected.length, `total of ${JSON.stringify(filter)} on every page`);
      seen.push(...page.items.map((n) => n.id));
      if (page.next === undefined) break;
      page = repo.list(filter, { limit: 3, after: page.next });
    }
    t.same(seen, expected, `${JSON.stringify(filter)}: every NIC once, in order`);
  }
  t.equal(repo.list({}, { limit: N }).next, undefined, 'a page that holds the rest has no next');
  t.throws(() => repo.list({}, { limit: 3, after: 'not-a-cursor' }), { code: 'QBG_ERR_FIELD_TYPE', field: 'after' });
  t.throws(() => repo.list({}, { limit: 3, after: Buffer.from('[1,2]').toString('base64url') }), { code: 'QBG_ERR_FIELD_TYPE', field: 'after' });
});

t.test('totals kept by triggers equal count(*) after every kind of write; the change sequence moves with each', async (t) => {
  const repo = fresh();
  const check = (what: string) => {
    for (const filter of [{}, { uplink: 'eth0' }, { uplink: 'eth1' }, { typeName: 'db' }, { state: 'failed' as const }, { state: ['associated' as const, 'timed-out' as const] }, { uplink: 'eth1', typeName: 'web', state: 'associated' as const }]) {
      const counted = repo.all(filter).length;
      t.equal(repo.count(filter), counted, `${what}: ${JSON.stringify(filter)}`);
    }
  };
  let seq = repo.changeSeq();
  const moved = (what: string) => {
    const now = repo.changeSeq();
    t.ok(now > seq, `${what} moves the change sequence`);
    seq = now;
  };
  const ids: string[] = [];
  for (let i = 0; i < 12; i++) {
    const p = params(i);
    ids.push(nicId(p.vmUuid, p.mac));
    repo.applyEvent(ids[i], { event: 'request-assoc', cause: 'api', params: p, desiredMode: 'assoc' });
    repo.applyEvent(ids[i], { event: i % 4 ? 'answer-accepted' : 'answer-rejected', cause: 'lldpad', reasonCode: i % 4 ? undefined : 4 });
  }
  moved('creating and answering');
  check('created');
  repo.applyEvent(ids[1], { event: 'request-assoc', cause: 'api', params: { ...params(1), uplink: 'eth0', typeName: 'db' } });
  moved('moving a NIC to another uplink and type');
  check('re-pinned');
  t.throws(() => repo.applyEvent(ids[2], { event: 'answer-accepted', cause: 'x' }), { code: 'QBG_ERR_ILLEGAL_TRANSITION' });
  t.equal(repo.changeSeq(), seq, 'a refused transition writes nothing');
  check('after a refused transition');
  repo.forget(ids[3]);
  moved('forgetting');
  check('forgotten');
  repo.db.prepare("UPDATE nics SET state = 'lost' WHERE id = ?").run(ids[5]);
  moved('plain SQL');
  check('plain SQL');
  t.throws(() => repo.db.transaction(() => {
    repo.forget(ids[7]);
    throw new Error('rolled back');
  })());
  t.ok(repo.get(ids[7]), 'rolled back');
  check('rolled back');
});

t.test("the per-associate check for another VM's NIC on the same filter reads one index, not the uplink's NICs", async (t) => {
  const db = openDatabase(':memory:');
  const plan = (db.prepare(`EXPLAIN QUERY PLAN ${FILTER_USER_SQL}`).all('s0', '52:54:00:00:00:01', 0, 'x') as Array<{ detail: string }>).map((r) => r.detail);
  t.match(plan.join('\n'), /USING INDEX nics_filter \(uplink=\? AND mac=\? AND vlan=\?\)/, plan.join('; '));
  db.close();
});

t.test('the change sequence moves at once with a write of this connection, and with one by another connection on the file (within FOREIGN_WRITE_MS)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'qbg-seq-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'qbg.db');
  const repo = new NicRepo(openDatabase(file));
  const other = openDatabase(file);
  t.teardown(() => {
    repo.db.close();
    other.close();
  });
  const p = params(1);
  const id = nicId(p.vmUuid, p.mac);
  repo.applyEvent(id, { event: 'request-assoc', cause: 'api', params: p, desiredMode: 'assoc' });
  const before = repo.changeSeq();
  t.equal(repo.changeSeq(), before, 'no write: the same sequence');
  repo.applyEvent(id, { event: 'answer-accepted', cause: 'lldpad' });
  const mine = repo.changeSeq();
  t.ok(mine > before, "this connection's write moves it at once");
  other.prepare("UPDATE nics SET state = 'lost' WHERE id = ?").run(id);
  // bounded poll, no timing assertion: the bound is FOREIGN_WRITE_MS, the poll allows for a loaded machine
  await until("another connection's write in the change sequence", async () => repo.changeSeq() > mine, 50 * FOREIGN_WRITE_MS, 10);
  t.equal(repo.get(id)?.state, 'lost', 'and the row it names is the one written');
});

t.test("a sweep's chunks: every matching NIC once, in listing order, as id and state only", async (t) => {
  const repo = fresh();
  for (let i = 0; i < 250; i++) {
    const p = params(i);
    const id = nicId(p.vmUuid, p.mac);
    repo.applyEvent(id, { event: 'request-assoc', cause: 'api-associate', params: p, desiredMode: 'assoc' });
    if (i % 5) repo.applyEvent(id, { event: 'answer-accepted', cause: 'lldpad-answer' });
  }
  const filter = { uplink: 'eth1', state: ['associated', 'associating'] as const };
  const chunks = [...repo.chunks({ ...filter, state: [...filter.state] }, 40)];
  t.same(chunks.map((c) => c.length), [40, 40, 40, 5], 'chunks of 40, the rest in the last');
  const listed: { id: string; state: string }[] = [];
  let after: string | undefined;
  do {
    const page = repo.list({ ...filter, state: [...filter.state] }, { limit: 50, ...(after ? { after } : {}) });
    listed.push(...page.items.map((n) => ({ id: n.id, state: n.state })));
    after = page.next;
  } while (after);
  t.equal(listed.length, 125, "eth1's NICs");
  t.same(chunks.flat(), listed, 'the same NICs in the same order as the listing, with their states');
  t.same(Object.keys(chunks[0][0]).sort(), ['id', 'state'], 'no whole row');
});
