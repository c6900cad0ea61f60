// The fleet inside one process: two qbg services (each its own SQLite) on one real PostgreSQL cluster started by
// the test (test/helpers/postgres.ts), lldpad replaced by the scripted associator. What it proves: the outbox is
// written with the state change and drained in order; a batch delivered twice is stored once; PostgreSQL down does
// not stop associations and everything arrives after; types edited on one host reach the other; the loser of a
// race gets 409 naming the version; the fleet view pages by key; a VSI held on two hosts is reported.
import t, { type Test } from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { defaultConfig, type FleetConfig, type QbgConfig } from '../../src/config.js';
import { createService, type QbgService } from '../../src/service/app.js';
import { migratePg, PG_MIGRATIONS } from '../../src/fleet/pg-migrations.js';
import type { QbgEvent } from '../../src/service/transition-bus.js';
import { main } from '../../src/cli/main.js';
import { startPostgres } from '../helpers/postgres.js';
import { ScriptedLldpad } from '../helpers/scripted-lldpad.js';
import { until } from '../helpers/until.js';

const cluster = await startPostgres({ name: 'fleet-svc' });
t.teardown(() => cluster.destroy());

let dbCount = 0;
async function freshDb(): Promise<string> {
  return cluster.createDatabase(`fleet_${++dbCount}`);
}

function fleetConfig(url: string, host: string, over: Partial<FleetConfig> = {}): FleetConfig {
  return { postgres: url, host, heartbeatSeconds: 0.5, staleSeconds: 60, catchUpSeconds: 0.5, backoffMaxSeconds: 0.5, migrationGraceSeconds: 30, drainBatch: 500, ...over };
}

function testConfig(fleet?: FleetConfig): QbgConfig {
  const c = defaultConfig();
  c.dbPath = join(mkdtempSync(join(tmpdir(), 'qbg-fleet-')), 'qbg.db');
  c.listen.port = 0;
  c.logLevel = 'silent';
  if (fleet) c.fleet = fleet;
  return c;
}

interface Host {
  svc: QbgService;
  url: string;
  lldpad: ScriptedLldpad;
  events: QbgEvent[];
  /** Stops the service (once; the teardown does it otherwise). */
  stop(): Promise<void>;
}

async function startHost(t: { teardown(fn: () => unknown): void }, fleet?: FleetConfig): Promise<Host> {
  const lldpad = new ScriptedLldpad();
  const svc = await createService(testConfig(fleet), { associator: lldpad });
  const events: QbgEvent[] = [];
  svc.bus.subscribe((e) => events.push(e));
  const [url] = await svc.start();
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= svc.stop());
  t.teardown(stop);
  return { svc, url, lldpad, events, stop };
}

async function api(h: Host, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await fetch(`${h.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : undefined };
}

const TYPE = { name: 'web', managerId: 1, typeId: 100, typeIdVersion: 1, allowedVlans: [] as number[] };
const vm = (i: number) => `8c6f9e6e-2d0b-4a4e-9b3e-${String(i).padStart(12, '0')}`;
const mac = (i: number) => `52:54:00:00:${String(Math.floor(i / 100)).padStart(2, '0')}:${String(i % 100).padStart(2, '0')}`;

async function associate(h: Host, i: number, extra: Record<string, unknown> = {}) {
  const r = await api(h, 'POST', '/nics/associate', { vmUuid: vm(i), mac: mac(i), uplink: 'eth0', type: 'web', vlan: 10, ...extra });
  if (r.status !== 200) throw new Error(`associate ${i}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function query<T extends pg.QueryResultRow = any>(url: string, sql: string, args: unknown[] = []): Promise<T[]> {
  const c = new pg.Client(url);
  await c.connect();
  try {
    return (await c.query<T>(sql, args)).rows;
  } finally {
    await c.end();
  }
}

/** The backend pid of a host's LISTEN session (application_name "qbg <host> session"), while it is connected. */
async function sessionPidOf(url: string, host: string): Promise<number | undefined> {
  return (await query(url, 'SELECT pid FROM pg_stat_activity WHERE application_name = $1', [`qbg ${host} session`]))[0]?.pid;
}

t.test('PostgreSQL migrations: applied once by many hosts at once, recorded, and a foreign history is refused', async (t) => {
  const url = await freshDb();
  const pools = Array.from({ length: 3 }, () => new pg.Pool({ connectionString: url }));
  t.teardown(() => Promise.all(pools.map((p) => p.end())));
  const done = await Promise.all(pools.map((p) => migratePg(p)));
  t.same(done.map((d) => d.length).sort(), [0, 0, PG_MIGRATIONS.length], 'exactly one migrator applied them');
  t.same(await migratePg(pools[0]), [], 'nothing left to apply');
  const renamed = PG_MIGRATIONS.map((m, i) => (i === 0 ? { ...m, name: 'other_name' } : m));
  await t.rejects(migratePg(pools[0], renamed), { code: 'QBG_ERR_FLEET', message: /recorded migration 1 as "fleet_nics"/ });
});

t.test('no fleet configured: no outbox rows, /fleet/status says disabled, fleet queries 404', async (t) => {
  const h = await startHost(t);
  t.equal((await api(h, 'POST', '/types', TYPE)).status, 201);
  await associate(h, 1);
  t.equal((h.svc.db.prepare('SELECT count(*) AS n FROM fleet_outbox').get() as { n: number }).n, 0, 'outbox untouched');
  t.same((await api(h, 'GET', '/fleet/status')).body, { enabled: false });
  const nics = await api(h, 'GET', '/fleet/nics');
  t.equal(nics.status, 404);
  t.equal(nics.body.code, 'QBG_ERR_FLEET_OFF');
});

t.test('NIC changes: outbox in the same transaction, drained in order, view and transitions match the host', async (t) => {
  const url = await freshDb();
  const a = await startHost(t, fleetConfig(url, 'hv-a'));
  await until('fleet schema ready', async () => a.svc.fleet!.status().schemaReady, 20_000, 50);
  t.equal((await api(a, 'POST', '/types', TYPE)).status, 201);
  // a state change and its outbox row are one transaction: a failing write leaves neither
  const db = a.svc.db;
  const outboxBefore = (db.prepare('SELECT count(*) AS n FROM fleet_outbox').get() as { n: number }).n;
  db.exec(`CREATE TEMP TRIGGER fail_outbox BEFORE INSERT ON fleet_outbox BEGIN SELECT RAISE(ABORT, 'outbox full'); END`);
  const refused = await api(a, 'POST', '/nics/associate', { vmUuid: vm(9), mac: mac(9), uplink: 'eth0', type: 'web', vlan: 10 });
  t.equal(refused.status, 500, 'the change is refused when its outbox row cannot be written');
  t.equal(a.svc.nics.repo.get(`${vm(9)}_${mac(9)}`), undefined, 'and no NIC was stored without it');
  db.exec('DROP TRIGGER fail_outbox');
  t.equal((db.prepare('SELECT count(*) AS n FROM fleet_outbox').get() as { n: number }).n, outboxBefore);

  for (let i = 1; i <= 5; i++) await associate(a, i);
  await api(a, 'POST', `/nics/${vm(3)}_${mac(3)}/disassociate`);
  await until('outbox drained', async () => a.svc.fleet!.status().outbox.rows === 0, 20_000, 50);
  const view = await query(url, 'SELECT nic_id, state, request_cause FROM fleet_nics WHERE host = $1 ORDER BY nic_id', ['hv-a']);
  const local = a.svc.nics.repo.all().sort((x, y) => (x.id < y.id ? -1 : 1));
  t.same(view.map((r) => [r.nic_id, r.state]), local.map((n) => [n.id, n.state]), 'fleet view = host state');
  const hist = db.prepare('SELECT seq FROM nic_history ORDER BY seq').all() as Array<{ seq: number }>;
  const sent = await query(url, 'SELECT history_seq FROM fleet_nic_transitions WHERE host = $1 ORDER BY seq', ['hv-a']);
  t.same(sent.map((r) => Number(r.history_seq)), hist.map((r) => r.seq), 'every transition once, in order');

  // delivered twice (qbg killed after PostgreSQL committed, before the local delete): stored once
  const published = (await query(url, 'SELECT max(seq) AS m FROM fleet_nic_transitions WHERE host = $1', ['hv-a']))[0].m;
  const last = await query(url, 'SELECT * FROM fleet_nic_transitions WHERE host = $1 AND seq > $2 - 3 ORDER BY seq', ['hv-a', published]);
  const ins = db.prepare('INSERT INTO fleet_outbox (seq, at, nic_id, kind, body) VALUES (?, ?, ?, ?, ?)');
  for (const r of last) {
    const nic = a.svc.nics.repo.get(r.nic_id)!;
    ins.run(Number(r.seq), r.at.toISOString(), r.nic_id, 'transition', JSON.stringify({ nic: { ...nic, state: r.to_state }, entry: { seq: Number(r.history_seq), nicId: r.nic_id, at: r.at.toISOString(), from: r.from_state, to: r.to_state, event: r.event, cause: r.cause } }));
  }
  await a.svc.fleet!.publisher.drainOnce();
  const again = await query(url, 'SELECT count(*) AS n FROM fleet_nic_transitions WHERE host = $1', ['hv-a']);
  t.equal(Number(again[0].n), hist.length, 'no duplicate after a re-sent batch');
  const view2 = await query(url, 'SELECT nic_id, state FROM fleet_nics WHERE host = $1 ORDER BY nic_id', ['hv-a']);
  t.same(view2, view.map((r) => ({ nic_id: r.nic_id, state: r.state })), 'an old row sent again does not move the view back');

  // the view says who announces each VSI: a NIC libvirt announced (qbg observed it) is published as libvirt's
  const lvInstance = '09b11c53-8b5c-4eeb-8f00-d84eaa0a0a01';
  a.lldpad.held.set(lvInstance, { instanceUuid: lvInstance, mode: 'assoc', typeId: 100, typeIdVersion: 1, managerId2: '', filters: [{ vlan: 10, mac: mac(8) }] });
  const seen = await api(a, 'POST', '/nics/observe', { vmUuid: vm(8), mac: mac(8), uplink: 'eth0', type: 'web', vlan: 10, instanceUuid: lvInstance, expect: 'held' });
  t.equal(seen.body.nic?.owner, 'libvirt', 'qbg recorded the NIC libvirt announced as libvirt\'s');
  const owners = await until('the observed NIC in the fleet view', async () => {
    const items = (await api(a, 'GET', '/fleet/nics?host=hv-a&limit=100')).body.items as Array<{ id: string; owner: string }>;
    return items.some((n) => n.id === `${vm(8)}_${mac(8)}`) ? items : undefined;
  }, 20_000, 50);
  t.same(
    owners.map((n) => [n.id, n.owner]),
    a.svc.nics.repo.all().sort((x, y) => (x.id < y.id ? -1 : 1)).map((n) => [n.id, n.owner]),
    'GET /fleet/nics: each NIC with its owner, libvirt for the observed one',
  );

  // forget: the NIC leaves the fleet view too
  t.equal((await api(a, 'DELETE', `/nics/${vm(3)}_${mac(3)}`)).status, 204);
  await until('forgotten NIC gone from the view', async () => (await query(url, 'SELECT 1 FROM fleet_nics WHERE nic_id = $1', [`${vm(3)}_${mac(3)}`])).length === 0, 20_000, 50);
});

t.test('PostgreSQL down: associations go on, the outbox grows, and after the restart it drains with nothing lost', async (t) => {
  const url = await freshDb();
  const a = await startHost(t, fleetConfig(url, 'hv-a'));
  await until('fleet schema ready', async () => a.svc.fleet!.status().schemaReady, 20_000, 50);
  t.equal((await api(a, 'POST', '/types', TYPE)).status, 201);
  await associate(a, 1);
  await until('drained', async () => a.svc.fleet!.status().outbox.rows === 0, 20_000, 50);
  await cluster.stop();
  try {
    for (let i = 2; i <= 11; i++) await associate(a, i);
    const st = await until('outage noticed', async () => {
      const s = a.svc.fleet!.status();
      return !s.reachable && s.outbox.rows >= 20 ? s : undefined;
    }, 20_000, 50);
    t.ok(st.lastError, `status names the error: ${st.lastError}`);
    const typeChange = await api(a, 'PUT', '/types/web', { allowedVlans: [10, 11] });
    t.equal(typeChange.status, 503, 'a type change needs PostgreSQL');
    t.equal(typeChange.body.code, 'QBG_ERR_FLEET_UNAVAILABLE');
    t.equal((await api(a, 'GET', '/types/web')).body.typeIdVersion, 1, 'and nothing of it was kept locally');
    t.equal((await api(a, 'GET', '/fleet/nics')).status, 503);
  } finally {
    await cluster.start();
  }
  await until('drained after the restart', async () => a.svc.fleet!.status().outbox.rows === 0 && a.svc.fleet!.status().reachable, 30_000, 100);
  const view = await query(url, "SELECT count(*) AS n FROM fleet_nics WHERE host = 'hv-a' AND state = 'associated'");
  t.equal(Number(view[0].n), 11, 'all 11 NICs associated in the fleet view');
  const hist = (a.svc.db.prepare('SELECT count(*) AS n FROM nic_history').get() as { n: number }).n;
  const sent = await query(url, "SELECT count(*) AS n, count(DISTINCT history_seq) AS d FROM fleet_nic_transitions WHERE host = 'hv-a'");
  t.equal(Number(sent[0].n), hist, 'every transition arrived');
  t.equal(Number(sent[0].d), hist, 'none twice');
});

t.test('VSI types: an edit on one host reaches the other; a raced edit gets 409 naming the version; import all-or-nothing', async (t) => {
  const url = await freshDb();
  const a = await startHost(t, fleetConfig(url, 'hv-a'));
  const b = await startHost(t, fleetConfig(url, 'hv-b'));
  for (const h of [a, b]) await until('fleet ready', async () => h.svc.fleet!.status().schemaReady, 20_000, 50);
  t.equal((await api(a, 'POST', '/types', TYPE)).status, 201);
  await until('b sees the type', async () => (await api(b, 'GET', '/types/web')).status === 200, 10_000, 50);
  const edit = await api(b, 'PUT', '/types/web', { allowedVlans: [10, 20] });
  t.equal(edit.status, 200);
  t.equal(edit.body.type.typeIdVersion, 2);
  const onA = await until('a sees version 2', async () => {
    const r = await api(a, 'GET', '/types/web');
    return r.body.typeIdVersion === 2 ? r.body : undefined;
  }, 10_000, 50);
  t.same(onA.versions, [1, 2], 'versions keep their order fleet-wide');

  // two admins both read version 2 and change it: the second is refused, naming version 3 it raced
  const first = await api(a, 'PUT', '/types/web?baseVersion=2', { allowedVlans: [10, 20, 30] });
  t.equal(first.status, 200);
  const second = await api(b, 'PUT', '/types/web?baseVersion=2', { allowedVlans: [10, 40] });
  t.equal(second.status, 409);
  t.equal(second.body.code, 'QBG_ERR_TYPE_RACED');
  t.match(second.body.error, /at version 3 but this change was based on version 2/);

  // a host whose copy is behind (no NOTIFY yet) races in PostgreSQL: simulate by writing to PostgreSQL directly
  // and editing before b caught up — the guard is PostgreSQL's, not the local copy's
  await b.svc.fleet!.typeSync.syncNow();
  const pgc = new pg.Client(url);
  await pgc.connect();
  t.teardown(() => pgc.end());
  await pgc.query('BEGIN');
  await pgc.query('SELECT rev FROM fleet_typedb FOR UPDATE'); // holds off every other change until we commit
  const racing = api(b, 'PUT', '/types/web', { description: 'from b' });
  await new Promise((r) => setTimeout(r, 300));
  const spec = JSON.stringify({ name: 'web', description: 'meanwhile', managerId: 1, managerId2: '01' + '0'.repeat(30), typeId: 100, typeIdVersion: 9, filterFormat: 'vlan-mac', allowedVlans: [{ from: 10, to: 10 }] });
  await pgc.query("INSERT INTO fleet_vsi_type_versions (name, type_id_version, manager_id2, type_id, spec, created_at) VALUES ('web', 9, $1, 100, $2, now()::text)", ['01' + '0'.repeat(30), spec]);
  await pgc.query("UPDATE fleet_vsi_types SET current_version = 9 WHERE name = 'web'");
  await pgc.query('UPDATE fleet_typedb SET rev = rev + 1');
  await pgc.query('COMMIT');
  const raced = await racing;
  t.equal(raced.status, 409, 'the change decided on version 3 lost against version 9');
  t.match(raced.body.error, /at version 9 but this change was based on version 3/);
  await until('both copies at version 9', async () => (await api(a, 'GET', '/types/web')).body.typeIdVersion === 9 && (await api(b, 'GET', '/types/web')).body.typeIdVersion === 9, 10_000, 50);

  // all or nothing: a batch whose second file collides is refused and leaves no trace on any host
  const files = [
    { file: 'db.yaml', content: 'name: db\nmanagerId: 1\ntypeId: 200\ntypeIdVersion: 1\n' },
    { file: 'clash.yaml', content: 'name: clash\nmanagerId: 1\ntypeId: 100\ntypeIdVersion: 9\n' },
  ];
  const imp = await api(a, 'POST', '/types/import', { files });
  t.equal(imp.status, 409, `refused: ${imp.body.error}`);
  t.same((await query(url, "SELECT name FROM fleet_vsi_types WHERE name IN ('db', 'clash')")).length, 0, 'nothing in PostgreSQL');
  t.equal((await api(b, 'GET', '/types/db')).status, 404);
  const ok = await api(a, 'POST', '/types/import', { files: files.slice(0, 1) });
  t.equal(ok.status, 200);
  await until('b sees the imported type', async () => (await api(b, 'GET', '/types/db')).status === 200, 10_000, 50);
});

t.test('fleet view: filters and keyset paging across hosts; fleet checks are findings, metrics and events', async (t) => {
  const url = await freshDb();
  const a = await startHost(t, fleetConfig(url, 'hv-a', { migrationGraceSeconds: 1 }));
  const b = await startHost(t, fleetConfig(url, 'hv-b', { migrationGraceSeconds: 1 }));
  for (const h of [a, b]) await until('fleet ready', async () => h.svc.fleet!.status().schemaReady, 20_000, 50);
  t.equal((await api(a, 'POST', '/types', TYPE)).status, 201);
  await until('b has the type', async () => (await api(b, 'GET', '/types/web')).status === 200, 10_000, 50);
  for (let i = 1; i <= 7; i++) await associate(a, i);
  for (let i = 11; i <= 14; i++) await associate(b, i);
  await until('both drained', async () => a.svc.fleet!.status().outbox.rows === 0 && b.svc.fleet!.status().outbox.rows === 0, 20_000, 50);

  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const r = await api(a, 'GET', `/fleet/nics?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
    t.equal(r.status, 200);
    seen.push(...r.body.items.map((n: { host: string; id: string }) => `${n.host}/${n.id}`));
    cursor = r.body.next;
    pages++;
  } while (cursor);
  t.equal(pages, 4, '11 NICs in pages of 3');
  t.equal(new Set(seen).size, 11, 'each NIC once');
  t.same(seen, [...seen].sort(), 'ordered by host, then NIC id');
  const onB = await api(a, 'GET', '/fleet/nics?host=hv-b&state=associated');
  t.equal(onB.body.items.length, 4, 'NICs associated on b, seen from a');
  t.equal((await api(a, 'GET', `/fleet/nics?vm=${vm(12)}`)).body.items[0].host, 'hv-b');
  const bad = await api(a, 'GET', '/fleet/nics?cursor=not-a-cursor');
  t.equal(bad.status, 400);
  t.equal(bad.body.field, 'cursor');
  t.equal((await api(a, 'GET', '/fleet/nics?state=sleeping')).status, 400);

  // the CLI: the same view, all pages followed, as JSON and for humans
  const cli = async (...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['--url', a.url, ...argv], { out: (s) => out.push(s), err: (s) => err.push(s) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };
  const all = await cli('fleet', 'nics', '--all', '--limit', '4', '--json');
  t.equal(all.code, 0, all.err);
  t.equal(JSON.parse(all.out).items.length, 11, 'qbg fleet nics --all follows every page');
  const hostsText = await cli('fleet', 'hosts');
  t.match(hostsText.out, /hv-a\s+\d+ s ago\s+0\s+associated 7/);
  t.match((await cli('fleet', 'status')).out, /fleet host hv-a on postgres:\/\/postgres@127\.0\.0\.1:\d+\/fleet_\d+: reachable/);
  const badState = await cli('fleet', 'nics', '--state', 'sleeping');
  t.equal(badState.code, 1);
  t.match(badState.err, /state/);
  t.equal((await cli('fleet', 'frobnicate')).code, 2, 'usage error');

  const hosts = (await api(b, 'GET', '/fleet/hosts')).body.hosts;
  t.match(hosts, [
    { host: 'hv-a', stale: false, outboxRows: 0, nics: { associated: 7 } },
    { host: 'hv-b', stale: false, outboxRows: 0, nics: { associated: 4 } },
  ]);

  // the same instance UUID associated on both hosts, no migration: reported once by the checker host
  const shared = '11111111-2222-4333-8444-555555555555';
  await associate(a, 30, { instanceUuid: shared });
  await associate(b, 31, { instanceUuid: shared });
  await until('drained', async () => a.svc.fleet!.status().outbox.rows === 0 && b.svc.fleet!.status().outbox.rows === 0, 20_000, 50);
  const findings = await until('double-held found', async () => {
    const r = await api(a, 'GET', '/fleet/findings');
    return r.body.findings.length ? r.body.findings : undefined;
  }, 10_000, 100);
  t.match(findings, [{ check: 'double-held', detail: { instanceUuid: shared, hosts: ['hv-a', 'hv-b'] } }]);
  const event = await until('one event raised', async () => {
    const all = [...a.events, ...b.events].filter((e) => e.kind === 'fleet-double-held');
    return all.length ? all : undefined;
  }, 10_000, 100);
  await new Promise((r) => setTimeout(r, 1500)); // several more check rounds on both hosts
  t.equal([...a.events, ...b.events].filter((e) => e.kind === 'fleet-double-held').length, 1, 'raised once, by the checker host only');
  t.match(event[0], { detail: { instanceUuid: shared } });
  const metrics = await (await fetch(`${b.url}/metrics`)).text();
  t.match(metrics, /qbg_fleet_findings\{check="double-held"\} 1/, 'metric on every host');

  // a migration qbg knows of (the destination pre-associated by migration prepare) is not a double-held VSI
  await api(b, 'POST', `/nics/${vm(31)}_${mac(31)}/disassociate`);
  const prep = await api(b, 'POST', `/migrations/${vm(1)}/prepare`, { nics: [{ mac: mac(1), uplink: 'eth0', type: 'web', vlan: 10 }] });
  t.equal(prep.status, 200, JSON.stringify(prep.body));
  await until('drained', async () => b.svc.fleet!.status().outbox.rows === 0, 20_000, 50);
  const after = await until('findings settle', async () => {
    const r = await api(a, 'GET', '/fleet/findings');
    return r.body.findings.every((f: { detail: { instanceUuid: string } }) => f.detail.instanceUuid !== shared) ? r.body.findings : undefined;
  }, 10_000, 100);
  t.same(after, [], 'no finding while the destination holds it for a known migration');

  // the destination starts the VM (associates) and the source never lets go: reported after the grace period
  t.equal((await api(b, 'POST', `/migrations/${vm(1)}/start`)).status, 200);
  const holding = await until('source-still-holding found', async () => {
    const r = await api(a, 'GET', '/fleet/findings');
    return r.body.findings.find((f: { check: string }) => f.check === 'migration-source-holding');
  }, 15_000, 200);
  t.match(holding, { detail: { destination: 'hv-b', sources: ['hv-a'] } });
  await until('event raised', async () => [...a.events, ...b.events].some((e) => e.kind === 'fleet-migration-source-holding'), 10_000, 100);
  t.equal((await api(a, 'POST', `/migrations/${vm(1)}/stop`)).status, 200);
  await until('resolved once the source let go', async () => (await api(a, 'GET', '/fleet/findings')).body.findings.length === 0, 15_000, 200);
});

/**
 * Makes every pg_notify() in this database a no-op for connections opened from now on (public.pg_notify ahead of
 * pg_catalog's on the search_path): qbg's type notifications are "missed". Checked, not assumed: a listener gets the
 * marker sent after a pg_notify() call, and not the call's payload (notifications arrive in commit order).
 */
async function suppressNotify(t: Test, url: string): Promise<void> {
  const db = new URL(url).pathname.slice(1);
  await query(url, `CREATE FUNCTION public.pg_notify(text, text) RETURNS void LANGUAGE sql AS 'SELECT NULL::void'`);
  await query(url, `ALTER DATABASE ${pg.escapeIdentifier(db)} SET search_path = public, pg_catalog`);
  const listener = new pg.Client(url);
  await listener.connect();
  try {
    const got: string[] = [];
    listener.on('notification', (m) => got.push(m.payload ?? ''));
    await listener.query('LISTEN qbg_types');
    await query(url, "SELECT pg_notify('qbg_types', 'through-pg_notify')");
    await query(url, "NOTIFY qbg_types, 'marker'");
    await until('the marker notification', async () => got.includes('marker'), 10_000, 20);
    t.same(got, ['marker'], 'pg_notify() sends nothing in this database');
  } finally {
    await listener.end();
  }
}

async function typeVersion(h: Host): Promise<number | undefined> {
  return (await api(h, 'GET', '/types/web')).body?.typeIdVersion;
}

t.test('a type edit whose NOTIFY was missed reaches the other host by the periodic catch-up alone', async (t) => {
  const url = await freshDb();
  await suppressNotify(t, url);
  const a = await startHost(t, fleetConfig(url, 'hv-a'));
  // b's LISTEN connection stays up the whole time (no reconnect catch-up): only the periodic one can bring the edit
  const b = await startHost(t, fleetConfig(url, 'hv-b', { catchUpSeconds: 1 }));
  for (const h of [a, b]) await until('fleet ready', async () => h.svc.fleet!.status().schemaReady, 20_000, 50);
  const pid = () => sessionPidOf(url, 'hv-b');
  const listener = await until("b's LISTEN connection", pid, 10_000, 50);

  t.equal((await api(a, 'POST', '/types', TYPE)).status, 201);
  t.equal((await api(a, 'PUT', '/types/web', { allowedVlans: [10, 20] })).status, 200);
  t.equal(await typeVersion(a), 2, 'the writing host has its edit at once (it reloads after its COMMIT)');
  await until('b has version 2 by catch-up', async () => (await typeVersion(b)) === 2, 15_000, 100);
  t.equal(await pid(), listener, 'the same LISTEN connection throughout: no reconnect brought it');
});

t.test('the LISTEN connection killed (pg_terminate_backend): the host reconnects, catches up what it missed, and hears NOTIFYs again', async (t) => {
  const url = await freshDb();
  await suppressNotify(t, url);
  const a = await startHost(t, fleetConfig(url, 'hv-a'));
  // no periodic catch-up during the test: what b learns comes by its reconnect or by a notification
  const b = await startHost(t, fleetConfig(url, 'hv-b', { catchUpSeconds: 3600 }));
  for (const h of [a, b]) await until('fleet ready', async () => h.svc.fleet!.status().schemaReady, 20_000, 50);
  const sessionPid = () => sessionPidOf(url, 'hv-b');
  const first = await until("b's LISTEN connection", sessionPid, 10_000, 50);
  t.equal((await api(a, 'POST', '/types', TYPE)).status, 201);
  t.equal(await typeVersion(b), undefined, 'no notification, no catch-up: b has not seen the new type');

  const killed = await query(url, 'SELECT pg_terminate_backend($1) AS ok', [first]);
  t.equal(killed[0].ok, true);
  const second = await until('b listens on a new connection', async () => {
    const p = await sessionPid();
    return p !== undefined && p !== first ? p : undefined;
  }, 15_000, 50);
  await until('b caught up on the reconnect', async () => (await typeVersion(b)) === 1, 15_000, 50);

  // and it listens again: a change written straight to PostgreSQL with a NOTIFY statement (not the shadowed
  // function) reaches b, whose periodic catch-up is an hour away
  const spec = JSON.stringify({ name: 'web', description: 'edited in PostgreSQL', managerId: 1, managerId2: '01' + '0'.repeat(30), typeId: 100, typeIdVersion: 2, filterFormat: 'vlan-mac', allowedVlans: [] });
  await query(url, `WITH v AS (INSERT INTO fleet_vsi_type_versions (name, type_id_version, manager_id2, type_id, spec, created_at)
      VALUES ('web', 2, $1, 100, $2, now()::text)),
    ty AS (UPDATE fleet_vsi_types SET current_version = 2 WHERE name = 'web')
    UPDATE fleet_typedb SET rev = rev + 1`, ['01' + '0'.repeat(30), spec]);
  await query(url, "NOTIFY qbg_types, 'test'");
  await until('b hears the NOTIFY on its new connection', async () => (await typeVersion(b)) === 2, 15_000, 50);
  t.equal(await sessionPid(), second, 'on the same new connection (no further reconnect)');
});

t.test('the LISTEN connection reporting its failure twice (an error, then its end as an error) does not take qbg down; it reconnects', async (t) => {
  const url = await freshDb();
  const b = await startHost(t, fleetConfig(url, 'hv-b', { catchUpSeconds: 3600 }));
  await until('fleet ready', async () => b.svc.fleet!.status().schemaReady, 20_000, 50);
  const sessionPid = () => sessionPidOf(url, 'hv-b');
  const first = await until("b's LISTEN connection", sessionPid, 10_000, 50);
  // what pg's Client does when the server ends an idle connection: 'error' for the server's message, and 'error'
  // again when the socket ends before qbg has closed the client (PostgreSQL stopping made that race in a test run)
  const session = await until('the session client', async () => (b.svc.fleet as unknown as { session?: pg.Client }).session, 10_000, 50);
  t.doesNotThrow(() => {
    session.emit('error', new Error('terminating connection due to administrator command'));
    session.emit('error', new Error('Connection terminated unexpectedly'));
  }, 'both reports handled');
  const second = await until('b listens on a new connection', async () => {
    const p = await sessionPid();
    return p !== undefined && p !== first ? p : undefined;
  }, 15_000, 50);
  t.not(second, first);
});

t.test('checks take-over: when the checker host stops, one other host takes the checker lock; it raises new findings, not its predecessor\'s again', async (t) => {
  const url = await freshDb();
  const hosts = [await startHost(t, fleetConfig(url, 'hv-a')), await startHost(t, fleetConfig(url, 'hv-b')), await startHost(t, fleetConfig(url, 'hv-c'))];
  for (const h of hosts) await until('fleet ready', async () => h.svc.fleet!.status().schemaReady, 20_000, 50);
  const checkers = () => hosts.filter((h) => h.svc.fleet!.status().checker);
  const first = await until('one checker', async () => (checkers().length === 1 ? checkers()[0] : undefined), 10_000, 50);
  // the lock in PostgreSQL agrees: held by exactly one session, the checker's
  const holders = await query(url, `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)
    WHERE l.locktype = 'advisory' AND l.objid = $1 AND l.granted`, [0x71626732]);
  t.same(holders.map((r) => r.application_name), [`qbg ${first.svc.fleet!.host} session`]);

  t.equal((await api(hosts[0], 'POST', '/types', TYPE)).status, 201);
  const rest = hosts.filter((h) => h !== first);
  for (const h of rest) await until('type everywhere', async () => (await typeVersion(h)) === 1, 10_000, 50);
  const doubled = (h: Host, uuid: string) => h.events.filter((e) => e.kind === 'fleet-double-held' && e.detail.instanceUuid === uuid);
  // a finding raised by the first checker
  const before = '31111111-2222-4333-8444-555555555555';
  await associate(rest[0], 40, { instanceUuid: before });
  await associate(rest[1], 41, { instanceUuid: before });
  await until('raised by the first checker', async () => doubled(first, before).length === 1, 15_000, 50);
  t.match((await api(rest[0], 'GET', '/fleet/findings')).body.findings, [{ check: 'double-held', detail: { instanceUuid: before } }], 'the other hosts read the checker\'s round');

  await first.stop();
  const next = await until('another host took over', async () => (rest.filter((h) => h.svc.fleet!.status().checker).length === 1 ? rest.find((h) => h.svc.fleet!.status().checker) : undefined), 15_000, 50);
  t.equal(rest.filter((h) => h.svc.fleet!.status().checker).length, 1, 'exactly one successor');

  // a finding that appears now is raised by the new checker, once; the one from before is not raised again (the
  // successor's round that raised the new one saw the old one too)
  const other = rest.find((h) => h !== next)!;
  const after = '21111111-2222-4333-8444-555555555555';
  await associate(next, 42, { instanceUuid: after });
  await associate(other, 43, { instanceUuid: after });
  const raised = await until('double-held raised', async () => {
    const e = [...doubled(next, after), ...doubled(other, after)];
    return e.length ? e : undefined;
  }, 15_000, 50);
  t.match(raised, [{ detail: { instanceUuid: after, checkedBy: next.svc.fleet!.host } }], 'by the host that took over');
  t.equal(doubled(other, after).length, 0, 'not by the other one');
  t.equal(doubled(next, before).length + doubled(other, before).length, 0, 'the finding raised before the take-over is not raised again');
  const seen = (await api(other, 'GET', '/fleet/findings')).body.findings.map((f: { detail: { instanceUuid: string } }) => f.detail.instanceUuid).sort();
  t.same(seen, [after, before], 'both findings, read from the new checker\'s round');
});

t.test('fleet_nic_transitions older than fleet.transitionRetentionDays are pruned by the checker host; newer ones stay', async (t) => {
  const url = await freshDb();
  const a = await startHost(t, fleetConfig(url, 'hv-a', { transitionRetentionDays: 30 }));
  await until('fleet ready', async () => a.svc.fleet!.status().schemaReady, 20_000, 50);
  await until('a is the checker', async () => a.svc.fleet!.status().checker, 10_000, 50);
  // 12,000 transitions 31–40 days old (more than one prune batch) and 500 from 29 days ago, of a host long gone
  await query(url, `INSERT INTO fleet_nic_transitions (host, incarnation, seq, history_seq, nic_id, at, from_state, to_state, event, cause)
    SELECT 'hv-old', 'inc', s, s, 'nic-' || (s % 50), now() - make_interval(days => 31 + s % 10), 'new', 'associating', 'request-assoc', 'api-assoc'
    FROM generate_series(1, 12000) AS s`);
  await query(url, `INSERT INTO fleet_nic_transitions (host, incarnation, seq, history_seq, nic_id, at, from_state, to_state, event, cause)
    SELECT 'hv-old', 'inc', s, s, 'nic-' || (s % 50), now() - interval '29 days', 'new', 'associating', 'request-assoc', 'api-assoc'
    FROM generate_series(12001, 12500) AS s`);
  t.equal((await api(a, 'POST', '/types', TYPE)).status, 201);
  await associate(a, 1);
  await until('drained', async () => a.svc.fleet!.status().outbox.rows === 0, 20_000, 50);
  const fresh = Number((await query(url, "SELECT count(*) AS n FROM fleet_nic_transitions WHERE host = 'hv-a'"))[0].n);
  t.ok(fresh >= 2, `${fresh} transitions of a's association`);

  // the periodic job (every catchUpSeconds, on the checker) does it
  await until('expired transitions pruned', async () => Number((await query(url, "SELECT count(*) AS n FROM fleet_nic_transitions WHERE at < now() - interval '30 days'"))[0].n) === 0, 20_000, 100);
  const left = await query(url, 'SELECT host, count(*) AS n, min(at) > now() - interval \'30 days\' AS all_newer FROM fleet_nic_transitions GROUP BY host ORDER BY host');
  t.same(left.map((r) => [r.host, Number(r.n), r.all_newer]), [['hv-a', fresh, true], ['hv-old', 500, true]]);
  t.equal(await a.svc.fleet!.prune(), 0, 'nothing more to do');
  const metrics = await (await fetch(`${a.url}/metrics`)).text();
  t.match(metrics, /qbg_fleet_transitions_pruned_total 12000/);
});

t.test('catch-up rounds run one at a time: calls made while one runs share one more round', async (t) => {
  const url = await freshDb();
  const a = await startHost(t, fleetConfig(url, 'hv-a', { catchUpSeconds: 3600 })); // no tick: rounds only when asked
  const fleet = a.svc.fleet!;
  await until('fleet schema ready', async () => fleet.status().schemaReady, 20_000, 50);
  // the session is up (it asks for a round as it connects) once this host holds the checker lock
  await until('the checker lock', async () => {
    await fleet.catchUp();
    return fleet.status().checker;
  }, 20_000, 100);
  let running = 0;
  let most = 0;
  let rounds = 0;
  const check = fleet.check.bind(fleet);
  fleet.check = async () => {
    running++;
    rounds++;
    most = Math.max(most, running);
    try {
      return await check();
    } finally {
      running--;
    }
  };
  await Promise.all([fleet.catchUp(), fleet.catchUp(), fleet.catchUp()]);
  t.equal(most, 1, 'never two rounds at once');
  t.equal(rounds, 2, 'the first call\'s round, then one more for the two calls made while it ran');
});

t.test('the checker analyzes the fleet view when its planner statistics lag (a page stays an index walk)', async (t) => {
  const url = await freshDb();
  const a = await startHost(t, fleetConfig(url, 'hv-a', { catchUpSeconds: 3600 })); // rounds driven by hand below
  await until('fleet schema ready', async () => a.svc.fleet!.status().schemaReady, 20_000, 50);
  const analyzes = async () => Number((await query(url, "SELECT analyze_count AS n FROM pg_stat_user_tables WHERE relname = 'fleet_nics'"))[0].n);
  await until('the checker lock', async () => {
    await a.svc.fleet!.catchUp();
    return a.svc.fleet!.status().checker;
  }, 20_000, 100);
  const before = await analyzes();
  // a fleet whose hosts all joined at once: 20,000 NICs published within seconds, long before autovacuum looks
  await query(url, `INSERT INTO fleet_nics (host, nic_id, vm_uuid, mac, uplink, type_name, type_id, type_id_version, vlan, instance_uuid, state, desired_mode, updated_at, incarnation, seq)
    SELECT 'hv-' || lpad((i / 500)::text, 3, '0'), lpad(i::text, 12, '0'), 'vm' || i, 'm', 'eth' || (i % 4), 'web', 100, 1, 10, 'inst' || i, 'associated', 'assoc', now(), 'x', i
    FROM generate_series(0, 19999) AS i`);
  // (PostgreSQL's counters of changed rows reach pg_stat_user_tables within a second or so)
  await until('the checker analyzed fleet_nics', async () => {
    await a.svc.fleet!.catchUp();
    return (await analyzes()) > before;
  }, 20_000, 200);
  const after = await analyzes();
  await a.svc.fleet!.catchUp();
  t.equal(await analyzes(), after, 'nothing changed since: no second ANALYZE');
  const plan = (await query(url, `EXPLAIN SELECT * FROM fleet_nics WHERE state = 'associated' AND (host, nic_id) > ('hv-000', '000000000099') ORDER BY host, nic_id LIMIT 101`)).map((r) => r['QUERY PLAN']).join('\n');
  t.match(plan, /Index Scan using fleet_nics_(state|pkey)/, 'a later page of a state filter walks an index in page order');
  t.notMatch(plan, /Sort|Bitmap/, 'no bitmap scan and sort of every matching row');
});
