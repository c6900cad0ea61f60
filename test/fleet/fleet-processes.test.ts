// Three real qbg service processes (test/helpers/qbg-process.ts: same composition root and config file as
// `qbg serve`, the scripted associator in place of lldpad) as three hosts, each its own SQLite, on one real
// PostgreSQL started by the test. Proves, in one run: a type change on A is seen by B and C; a NIC associated on B
// shows in the fleet view from A; PostgreSQL stopped and restarted: every host keeps associating, the outboxes
// drain, local and fleet views agree, nothing lost; qbg kill -9 in the middle of a drain: no loss and no
// duplicate after its restart, and meanwhile the host is reported stale; a VSI held on two hosts fires one webhook.
import t from 'tap';
import { createServer, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { startQbg, type QbgProcess } from '../helpers/qbg-process.js';
import { startPostgres } from '../helpers/postgres.js';
import { until } from '../helpers/until.js';

const cluster = await startPostgres({ name: 'fleet-proc' });
t.teardown(() => cluster.destroy());
const url = await cluster.createDatabase('fleet');

// a webhook receiver for the fleet check events
const hooks: Array<{ event: string; data: { detail: Record<string, unknown> } }> = [];
const receiver = createServer((req: IncomingMessage, res) => {
  let body = '';
  req.on('data', (d: Buffer) => (body += d.toString()));
  req.on('end', () => {
    hooks.push(JSON.parse(body));
    res.writeHead(204).end();
  });
});
await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
t.teardown(() => new Promise<void>((r) => receiver.close(() => r())));
const hookUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;

const config = (host: string) => ({
  fleet: { postgres: url, host, heartbeatSeconds: 0.5, catchUpSeconds: 0.5, backoffMaxSeconds: 0.5, staleSeconds: 4, drainBatch: 10 },
  webhooks: [{ url: hookUrl, events: ['fleet-double-held', 'fleet-host-stale'] }],
  reconcile: { intervalSeconds: 3600, concurrency: 4 },
});

const hosts: Record<string, QbgProcess> = {};
t.teardown(() => Promise.all(Object.values(hosts).map((p) => p.stop())));
// a host that failed a test often died: say how
t.teardown(() => {
  if (t.passing()) return;
  for (const [h, p] of Object.entries(hosts)) t.comment(`--- ${h}: exit ${p.child.exitCode ?? p.child.signalCode ?? 'running'}; stderr (tail) ---\n${p.log().stderr.slice(-3000)}\n--- log (tail) ---\n${p.log().tail.slice(-3000)}`);
});
// all three at once: a start is mostly tsx loading modules (~6 s each even with its cache), and the three overlap
// on two cores (in turn they took 25 s); the generous bound is for a busy machine
const START = { associator: 'scripted' as const, timeoutMs: 240_000 };
await Promise.all(['hv-a', 'hv-b', 'hv-c'].map(async (h) => (hosts[h] = await startQbg({ ...START, config: config(h) }))));
const [a, b, c] = [hosts['hv-a'], hosts['hv-b'], hosts['hv-c']];

async function api(p: QbgProcess, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await fetch(`${p.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : undefined };
}

const vm = (i: number) => `8c6f9e6e-2d0b-4a4e-9b3e-${String(i).padStart(12, '0')}`;
const mac = (i: number) => `52:54:00:00:${String(Math.floor(i / 100)).padStart(2, '0')}:${String(i % 100).padStart(2, '0')}`;
async function associate(p: QbgProcess, i: number, extra: Record<string, unknown> = {}): Promise<void> {
  const r = await api(p, 'POST', '/nics/associate', { vmUuid: vm(i), mac: mac(i), uplink: 'eth0', type: 'web', vlan: 10, ...extra });
  if (r.status !== 200 || r.body.nic.state !== 'associated') throw new Error(`associate ${i}: ${r.status} ${JSON.stringify(r.body)}`);
}

async function pgRows<T extends pg.QueryResultRow = any>(sql: string, args: unknown[] = []): Promise<T[]> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return (await client.query<T>(sql, args)).rows;
  } finally {
    await client.end();
  }
}

/** What the host's own SQLite holds (read-only beside the running qbg: WAL lets a reader in). */
function localHistory(p: QbgProcess): number[] {
  const db = new Database(join(p.dir, 'qbg.db'), { readonly: true });
  try {
    return (db.prepare('SELECT seq FROM nic_history ORDER BY seq').all() as Array<{ seq: number }>).map((r) => r.seq);
  } finally {
    db.close();
  }
}

const drained = (p: QbgProcess) => until(`${p.url} outbox drained`, async () => {
  const s = (await api(p, 'GET', '/fleet/status')).body;
  return s.reachable && s.outbox.rows === 0;
}, 30_000, 100);

// every host has its fleet schema and type copy before the first test writes through it (a type change before
// that is refused with 503, rightly)
for (const p of [a, b, c]) await until(`${p.url} joined the fleet`, async () => (await api(p, 'GET', '/fleet/status')).body.schemaReady, 60_000, 100);

/** Local NICs (id → state) and the fleet's view of the host agree, and every transition is in PostgreSQL once. */
async function views(name: string) {
  const p = hosts[name];
  const local = (await api(p, 'GET', '/nics?limit=1000')).body.items.map((n: { id: string; state: string }) => [n.id, n.state]).sort();
  const fleet = (await api(a, 'GET', `/fleet/nics?host=${name}&limit=1000`)).body.items.map((n: { id: string; state: string }) => [n.id, n.state]).sort();
  const sent = (await pgRows('SELECT history_seq FROM fleet_nic_transitions WHERE host = $1 ORDER BY history_seq', [name])).map((r) => Number(r.history_seq));
  return { local, fleet, sent, history: localHistory(p) };
}

t.test('a VSI type created and edited on A is seen by B and C', async (t) => {
  t.equal((await api(a, 'POST', '/types', { name: 'web', managerId: 1, typeId: 100, typeIdVersion: 1 })).status, 201);
  t.equal((await api(a, 'PUT', '/types/web', { allowedVlans: [10, 20] })).status, 200);
  for (const p of [b, c]) {
    const seen = await until('version 2 seen', async () => {
      const r = await api(p, 'GET', '/types/web');
      return r.body?.typeIdVersion === 2 ? r.body : undefined;
    }, 15_000, 100);
    t.same(seen.versions, [1, 2]);
    t.same(seen.allowedVlans, [{ from: 10, to: 10 }, { from: 20, to: 20 }]);
  }
});

t.test('a NIC associated on B shows in the fleet view from A', async (t) => {
  for (let i = 1; i <= 3; i++) await associate(b, i);
  const seen = await until('A sees B\'s NICs', async () => {
    const r = await api(a, 'GET', '/fleet/nics?host=hv-b&state=associated');
    return r.body.items.length === 3 ? r.body.items : undefined;
  }, 15_000, 100);
  t.match(seen[0], { host: 'hv-b', vmUuid: vm(1), state: 'associated', typeName: 'web', typeIdVersion: 2 });
});

t.test('PostgreSQL stopped and restarted: hosts keep working, outboxes drain, views agree, nothing lost', async (t) => {
  await cluster.stop();
  try {
    for (let i = 10; i <= 14; i++) await associate(a, i);
    for (let i = 20; i <= 24; i++) await associate(c, i);
    t.equal((await api(b, 'POST', `/nics/${vm(2)}_${mac(2)}/disassociate`)).body.nic.state, 'disassociated', 'B disassociates too');
    for (const p of [a, b, c]) {
      const s = await until('outage seen', async () => {
        const r = (await api(p, 'GET', '/fleet/status')).body;
        return r.reachable === false ? r : undefined;
      }, 15_000, 100);
      t.ok(s.outbox.rows > 0, `outbox waiting: ${s.outbox.rows} rows`);
    }
  } finally {
    await cluster.start();
  }
  for (const p of [a, b, c]) await drained(p);
  for (const name of ['hv-a', 'hv-b', 'hv-c']) {
    const v = await views(name);
    t.same(v.fleet, v.local, `${name}: fleet view = the host's own NICs`);
    t.same(v.sent, v.history, `${name}: every transition in PostgreSQL exactly once`);
  }
});

t.test('qbg kill -9 in the middle of a drain: the host is reported stale meanwhile; after its restart nothing is lost or doubled', async (t) => {
  const before = Number((await pgRows("SELECT last_seq FROM fleet_hosts WHERE host = 'hv-c'"))[0].last_seq);
  // "mid-drain" made certain, not hoped for: on a fast machine all six batches commit before any poll sees the first.
  // A trigger holds C's second batch (the first statement of its transaction updates C's fleet_hosts row, whose
  // last_seq is then past the backlog's start) until the test opens a gate, so C is killed with the first batch
  // committed and five still in its outbox.
  await pgRows(`CREATE TABLE test_gate (open boolean NOT NULL); INSERT INTO test_gate VALUES (false);
    CREATE FUNCTION test_hold_second_batch() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.host = 'hv-c' AND OLD.last_seq > ${before} THEN
        WHILE NOT (SELECT open FROM test_gate) LOOP PERFORM pg_sleep(0.02); END LOOP;
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER test_hold_second_batch BEFORE UPDATE ON fleet_hosts FOR EACH ROW EXECUTE FUNCTION test_hold_second_batch();`);
  await cluster.stop();
  try {
    for (let i = 30; i <= 59; i++) await associate(c, i); // 60 outbox rows: 6 batches of 10
  } finally {
    await cluster.start();
  }
  await until('the first batch committed', async () => Number((await pgRows("SELECT last_seq FROM fleet_hosts WHERE host = 'hv-c'"))[0].last_seq) > before, 30_000, 20);
  await c.kill();
  // the held transaction dies with its client once it may go on; later tests run without the trigger
  // (two round trips: one multi-statement query is one transaction, and the gate must be open, committed, before
  // DROP TRIGGER waits for the held transaction's lock)
  await pgRows('UPDATE test_gate SET open = true');
  await pgRows('DROP TRIGGER test_hold_second_batch ON fleet_hosts; DROP FUNCTION test_hold_second_batch(); DROP TABLE test_gate');
  const left = (() => {
    const db = new Database(join(c.dir, 'qbg.db'), { readonly: true });
    try {
      return (db.prepare('SELECT count(*) AS n FROM fleet_outbox').get() as { n: number }).n;
    } finally {
      db.close();
    }
  })();
  t.equal(left, 50, `killed mid-drain: ${left} outbox rows not yet deleted (five batches of ten)`);

  const stale = await until('C reported stale', async () => {
    const r = await api(a, 'GET', '/fleet/findings');
    return r.body.findings.find((f: { check: string }) => f.check === 'host-stale');
  }, 20_000, 200);
  t.match(stale, { detail: { host: 'hv-c' } });
  t.match((await api(b, 'GET', '/fleet/hosts')).body.hosts.find((h: { host: string }) => h.host === 'hv-c'), { stale: true });

  const restarted = await startQbg({ ...START, config: config('hv-c'), dir: c.dir });
  hosts['hv-c'] = restarted;
  await drained(restarted);
  const v = await views('hv-c');
  t.same(v.fleet, v.local, "hv-c: fleet view = the host's own NICs after the restart");
  t.same(v.sent, v.history, 'hv-c: every transition in PostgreSQL exactly once: none lost, none doubled');
  t.ok(v.history.length >= 60 + 2 * 3, `${v.history.length} transitions`);
  await until('C fresh again', async () => !(await api(a, 'GET', '/fleet/hosts')).body.hosts.find((h: { host: string }) => h.host === 'hv-c').stale, 15_000, 200);
  t.ok(hooks.some((h) => h.event === 'fleet-host-stale' && h.data.detail.host === 'hv-c'), 'the stale host fired its webhook');
});

t.test('the same VSI held on two hosts outside a migration fires the double-held webhook once', async (t) => {
  const shared = '11111111-2222-4333-8444-555555555555';
  await associate(a, 70, { instanceUuid: shared });
  await associate(b, 71, { instanceUuid: shared });
  const hook = await until('webhook received', async () => hooks.find((h) => h.event === 'fleet-double-held'), 20_000, 100);
  t.match(hook.data.detail, { instanceUuid: shared, hosts: ['hv-a', 'hv-b'] });
  await new Promise((r) => setTimeout(r, 2000)); // several more check rounds on all three hosts
  t.equal(hooks.filter((h) => h.event === 'fleet-double-held').length, 1, 'one webhook for the fleet, not one per host');
  const metrics = await (await fetch(`${hosts['hv-c'].url}/metrics`)).text();
  t.match(metrics, /qbg_fleet_findings\{check="double-held"\} 1/);
});
