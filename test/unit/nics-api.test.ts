// The NIC and migration API over a real NicService and SQLite store. lldpad is the one thing not here: a small
// scripted VsiAssociator stands in for the transport (the lab tests cover the real one).
import t from 'tap';
import { buildServer } from '../../src/api/server.js';
import { nicsRoutes } from '../../src/api/nics-routes.js';
import { openDatabase } from '../../src/store/db.js';
import { NicRepo } from '../../src/store/nic-repo.js';
import { TypeService } from '../../src/vtdb/type-service.js';
import { NicService } from '../../src/service/nic-service.js';
import { MigrationService } from '../../src/service/migration.js';
import { ScriptedLldpad } from '../helpers/scripted-lldpad.js';
import type { TokenConfig } from '../../src/api/auth.js';
import type { CliIo } from '../../src/cli/io.js';
import { nicCommand } from '../../src/cli/nic.js';

const VM = '8c6f9e6e-2d0b-4a4e-9b3e-0e5f1f2a3b4c';
const body = (over: Record<string, unknown> = {}) => ({ vmUuid: VM, mac: '52:54:00:12:34:56', uplink: 'eth0', type: 'web', vlan: 100, ...over });

async function setup(tokens?: TokenConfig, opts: { filterChangeHoldMs?: number } = {}) {
  const db = openDatabase(':memory:');
  const types = new TypeService(db);
  types.create({ name: 'web', managerId: 16, typeId: 1193047, typeIdVersion: 2, allowedVlans: ['100-110'] });
  const lldpad = new ScriptedLldpad();
  const nics = new NicService({ repo: new NicRepo(db), associator: lldpad, types, filterChangeHoldMs: opts.filterChangeHoldMs ?? 20 });
  const app = await buildServer({ routes: [nicsRoutes({ nics, migration: new MigrationService(nics) })], logLevel: 'silent', tokens });
  return { app, nics, lldpad, db };
}

t.test('associate, read, list, history, disassociate', async (t) => {
  const { app, lldpad } = await setup();
  const a = await app.inject({ method: 'POST', url: '/nics/associate', payload: body() });
  t.equal(a.statusCode, 200, a.body);
  const ans = a.json();
  t.equal(ans.nic.state, 'associated');
  t.equal(ans.asked, true);
  const id = ans.nic.id;
  t.equal(id, `${VM}_52:54:00:12:34:56`);
  const again = await app.inject({ method: 'POST', url: '/nics/associate', payload: body({ mac: '52:54:00:12:34:56'.toUpperCase() }) });
  t.equal(again.json().asked, false, 'repeat (MAC in another spelling) asks nothing');
  t.equal(lldpad.requests.length, 1);

  const g = await app.inject({ method: 'GET', url: `/nics/${encodeURIComponent(id)}` });
  t.equal(g.statusCode, 200);
  t.equal(g.json().typeIdVersion, 2);
  t.equal((await app.inject({ method: 'GET', url: `/nics/${VM}%2F52:54:00:12:34:56` })).statusCode, 200, 'the slash form works too');

  for (let i = 0; i < 5; i++) await app.inject({ method: 'POST', url: '/nics/associate', payload: body({ mac: `52:54:00:00:00:0${i}`, uplink: i % 2 ? 'eth1' : 'eth0' }) });
  const l = (await app.inject({ method: 'GET', url: '/nics?uplink=eth1&limit=1' })).json();
  t.equal(l.total, 2);
  t.equal(l.items.length, 1);
  t.equal(l.items[0].uplink, 'eth1');
  t.equal((await app.inject({ method: 'GET', url: `/nics?vm=${VM}&state=associated` })).json().total, 6);
  t.equal((await app.inject({ method: 'GET', url: '/nics?type=other' })).json().total, 0);

  const d = await app.inject({ method: 'POST', url: `/nics/${id}/disassociate` });
  t.equal(d.statusCode, 200);
  t.equal(d.json().nic.state, 'disassociated');
  const h = (await app.inject({ method: 'GET', url: `/nics/${id}/history` })).json();
  t.same(h.items.map((e: { to: string }) => e.to), ['associating', 'associated', 'disassociating', 'disassociated']);
  const after = (await app.inject({ method: 'GET', url: `/nics/${id}/history?after=${h.items[1].seq}&limit=1` })).json();
  t.same(after.items.map((e: { to: string }) => e.to), ['disassociating']);
  t.equal(after.total, 4);
  t.equal((await app.inject({ method: 'GET', url: `/nics/${VM}_52:54:00:99:99:99` })).json().code, 'QBG_ERR_NIC_NOT_FOUND');
});

t.test('what lldpad refused is an error carrying the recorded NIC', async (t) => {
  const { app, lldpad } = await setup();
  lldpad.next.push(() => ({ kind: 'rejected', reasonCode: 4, reason: 'Insufficient resources at bridge', latencyMs: 3 }));
  const r = await app.inject({ method: 'POST', url: '/nics/associate', payload: body() });
  t.equal(r.statusCode, 409);
  t.equal(r.json().code, 'QBG_ERR_VDP_REJECTED');
  t.equal(r.json().details.nic.state, 'failed');
  t.equal(r.json().details.nic.reasonCode, 4);
  lldpad.next.push(() => ({ kind: 'timeout', afterMs: 10000 }));
  const to = await app.inject({ method: 'POST', url: '/nics/associate', payload: body() });
  t.equal(to.statusCode, 504);
  t.equal(to.json().details.nic.state, 'timed-out');
  lldpad.next.push(() => ({ kind: 'transport-error', message: 'lldpad is not running' }));
  const te = await app.inject({ method: 'POST', url: '/nics/associate', payload: body() });
  t.equal(te.statusCode, 502);
  t.match(te.json().error, /lldpad is not running/);
});

t.test('bad input: 400 naming the field and its range, nothing stored, lldpad not asked', async (t) => {
  const { app, nics, lldpad } = await setup();
  const cases: Array<[string, string, unknown, string, RegExp]> = [
    ['POST', '/nics/associate', body({ vlan: 5000 }), 'vlan', /0–4095/],
    ['POST', '/nics/associate', body({ vlan: 120 }), 'vlan', /100-110/],
    ['POST', '/nics/associate', body({ mac: '01:00:5e:00:00:01' }), 'mac', /MAC/],
    ['POST', '/nics/associate', body({ mac: 'zz:54:00:12:34:56' }), 'mac', /MAC/],
    ['POST', '/nics/associate', body({ vmUuid: 'not-a-uuid-not-a-uuid-not-a-uuid-x' }), 'vmUuid', /UUID/],
    ['POST', '/nics/associate', body({ version: 300 }), 'version', /0–255/],
    ['POST', '/nics/associate', body({ mode: 'deassoc' }), 'mode', /assoc, preassoc, preassoc-rr/],
    ['POST', '/nics/associate', body({ typo: 1 }), 'typo', /unknown/],
    ['POST', '/nics/associate', { ...body(), vlan: undefined }, 'vlan', /required/],
    ['POST', '/nics/associate', body({ uplink: 'eth0;rm -rf' }), 'uplink', /interface name/],
    ['POST', '/nics/associate', body({ instanceUuid: 'nope' }), 'instanceUuid', /32|UUID/],
    ['POST', '/nics/associate', body({ mac: '00:00:00:00:00:00' }), 'mac', /all zero/],
    ['POST', '/nics/associate', body({ vmUuid: '00000000-0000-0000-0000-000000000000' }), 'vmUuid', /nil UUID/],
    ['POST', '/nics/associate', body({ instanceUuid: '00000000000000000000000000000000' }), 'instanceUuid', /nil UUID/],
    ['GET', '/nics?limit=0', undefined, 'limit', /1–1000/],
    ['GET', '/nics?state=bogus', undefined, 'state', /one of/],
    ['GET', '/nics?offset=-1', undefined, 'offset', /0–1000000000/],
    ['GET', '/nics?limit=1e309', undefined, 'limit', /finite/],
    ['GET', '/nics/not-an-id', undefined, 'id', /<vm uuid>_<mac>/],
    ['GET', `/nics/${VM}_52:54:00:12:34:56/history?limit=5000`, undefined, 'limit', /1–1000/],
    ['POST', '/nics/garbage/disassociate', undefined, 'id', /<vm uuid>_<mac>/],
    ['POST', '/migrations/xyz/prepare', { nics: [body()] }, 'vmUuid', /UUID|32/],
    ['POST', `/migrations/${VM}/prepare`, { nics: [] }, 'nics', /1/],
    ['POST', `/migrations/${VM}/prepare`, { nics: [{ ...body(), vmUuid: undefined, vlan: -1 }] }, 'nics[0].vlan', /0–4095/],
  ];
  for (const [method, url, payload, field, msg] of cases) {
    const r = await app.inject({ method: method as 'GET', url, ...(payload !== undefined ? { payload: payload as object } : {}) });
    t.equal(r.statusCode, 400, `${method} ${url} ${JSON.stringify(payload)}: ${r.body}`);
    t.equal(r.json().field, field, `${url} names ${field}`);
    t.match(r.json().error, msg, `${url}: ${r.json().error}`);
  }
  const nf = await app.inject({ method: 'POST', url: '/nics/associate', payload: body({ type: 'nosuch' }) });
  t.equal(nf.statusCode, 404);
  t.equal(nf.json().field, 'type');
  t.equal(nics.repo.list().total, 0, 'nothing stored');
  t.equal(lldpad.requests.length, 0, 'lldpad not asked');
});

t.test('migration steps over HTTP', async (t) => {
  const { app, lldpad } = await setup();
  const nicsBody = { nics: [{ mac: '52:54:00:00:01:01', uplink: 'eth0', type: 'web', vlan: 101 }] };
  const p = await app.inject({ method: 'POST', url: `/migrations/${VM}/prepare`, payload: nicsBody });
  t.equal(p.statusCode, 200, p.body);
  t.equal(p.json().nics[0].state, 'pre-associated');
  t.equal(lldpad.requests.at(-1)?.mode, 'preassoc', 'destination pre-associates without RR');
  const s = await app.inject({ method: 'POST', url: `/migrations/${VM}/start` });
  t.equal(s.json().nics[0].state, 'associated');
  const st = await app.inject({ method: 'POST', url: `/migrations/${VM}/stop` });
  t.equal(st.json().nics[0].state, 'disassociated');
  lldpad.next.push(() => ({ kind: 'rejected', reasonCode: 4, reason: 'Insufficient resources at bridge', latencyMs: 1 }));
  const bad = await app.inject({ method: 'POST', url: `/migrations/${VM}/prepare`, payload: nicsBody });
  t.equal(bad.statusCode, 409);
  t.equal(bad.json().details.ok, false);
});

t.test('roles: monitor reads, hook associates, admin repairs', async (t) => {
  const { app } = await setup({ admin: ['a'], hook: ['h'], monitor: ['m'] });
  const as = (tok: string) => ({ authorization: `Bearer ${tok}` });
  t.equal((await app.inject({ method: 'GET', url: '/nics', headers: as('m') })).statusCode, 200);
  t.equal((await app.inject({ method: 'POST', url: '/nics/associate', payload: body(), headers: as('m') })).statusCode, 403);
  const ok = await app.inject({ method: 'POST', url: '/nics/associate', payload: body(), headers: as('h') });
  t.equal(ok.statusCode, 200);
  const id = ok.json().nic.id;
  t.equal((await app.inject({ method: 'DELETE', url: `/nics/${id}`, headers: as('h') })).statusCode, 403);
  t.equal((await app.inject({ method: 'POST', url: `/nics/${id}/reconcile`, headers: as('a') })).statusCode, 200);
  t.equal((await app.inject({ method: 'DELETE', url: `/nics/${id}?disassociate=true`, headers: as('a') })).statusCode, 204);
  t.equal((await app.inject({ method: 'GET', url: `/nics/${id}`, headers: as('a') })).statusCode, 404);
  t.equal((await app.inject({ method: 'GET', url: '/nics' })).statusCode, 401);
});

t.test('qbg nic CLI over HTTP', async (t) => {
  const { app } = await setup();
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const addr = app.server.address() as { port: number };
  const run = async (args: string[], json = false) => {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = { out: (s) => out.push(s), err: (s) => err.push(s), json, baseUrl: `http://127.0.0.1:${addr.port}`, fetch, readStdin: async () => '' };
    const code = await nicCommand(args, io);
    return { code, out: out.join('\n'), err: err.join('\n') };
  };
  const a = await run(['associate', '--vm', VM, '--mac', '52:54:00:12:34:56', '--uplink', 'eth0', '--type', 'web', '--vlan', '101', '--json']);
  t.equal(a.code, 0, a.err);
  const nic = JSON.parse(a.out).nic;
  t.equal(nic.state, 'associated');
  t.equal(nic.vlan, 101);
  const again = await run(['associate', '--vm', VM, '--mac', '52:54:00:12:34:56', '--uplink', 'eth0', '--type', 'web', '--vlan', '101']);
  t.match(again.out, /already so/);
  const bad = await run(['associate', '--vm', VM, '--mac', '52:54:00:12:34:57', '--uplink', 'eth0', '--type', 'web', '--vlan', '9999']);
  t.equal(bad.code, 1);
  t.match(bad.err, /vlan.*0–4095/);
  const list = await run(['list', '--uplink', 'eth0'], true);
  t.equal(JSON.parse(list.out).total, 1);
  await run(['associate', '--vm', VM, '--mac', '52:54:00:12:34:58', '--uplink', 'eth0', '--type', 'web', '--vlan', '101']);
  const p1 = await run(['list', '--limit', '1']);
  const more = /more: --after (\S+)\)/.exec(p1.out);
  t.ok(more, `the first page names the cursor of the next: ${p1.out}`);
  const p2 = await run(['list', '--limit', '1', '--after', more![1]]);
  t.match(p2.out, /52:54:00:12:34:58/);
  t.notMatch(p2.out, /more:/, 'the last page has no cursor');
  t.match((await run(['list'])).out, /associated/);
  t.match((await run(['list'])).out, /^ID +OWNER +STATE/m, 'the table has an owner column');
  t.match((await run(['list'])).out, new RegExp(`${nic.id} +qbg +associated`));
  t.match((await run(['show', nic.id])).out, /associated on eth0, owner qbg/);
  const h = await run(['history', nic.id, '--json']);
  t.same(JSON.parse(h.out).items.map((e: { to: string }) => e.to), ['associating', 'associated']);
  const d = await run(['disassociate', nic.id, '--json']);
  t.equal(JSON.parse(d.out).nic.state, 'disassociated');
  await t.rejects(run(['frobnicate']), /expected list/);
  await t.rejects(run(['show']), /exactly one NIC id/);
  await t.rejects(run(['list', '--bogus', 'x']), /unknown option --bogus/);
});

t.test('a second VM may not take a MAC + VLAN another VM uses on the uplink: 409 naming that NIC', async (t) => {
  const { app, lldpad } = await setup();
  const first = await app.inject({ method: 'POST', url: '/nics/associate', payload: body() });
  t.equal(first.statusCode, 200, first.body);
  const firstId = first.json().nic.id;
  const OTHER = '1b4e28ba-2fa1-41d2-883f-0016d3cca427';
  const twin = await app.inject({ method: 'POST', url: '/nics/associate', payload: body({ vmUuid: OTHER }) });
  t.equal(twin.statusCode, 409, twin.body);
  t.equal(twin.json().code, 'QBG_ERR_NIC_FILTER_TAKEN');
  t.equal(twin.json().field, 'mac');
  t.match(twin.json().error, firstId, 'names the NIC that has it');
  t.equal(lldpad.requests.length, 1, 'lldpad not asked for the twin');
  t.equal((await app.inject({ method: 'GET', url: `/nics?vm=${OTHER}` })).json().total, 0, 'nothing stored for it');
  // two VMs asking at once: one wins, the other is refused (the check runs again as the request is recorded)
  const [x, y] = await Promise.all(
    ['2c5b1d0e-8f3a-4b6c-9d7e-1a2b3c4d5e6f', '3d6c2e1f-9a4b-4c7d-8e8f-2b3c4d5e6f70'].map((vm) => app.inject({ method: 'POST', url: '/nics/associate', payload: body({ vmUuid: vm, mac: '52:54:00:77:77:77' }) })),
  );
  t.same([x.statusCode, y.statusCode].sort(), [200, 409], `${x.body} ${y.body}`);
  // another VLAN or another uplink is another filter; the same VM re-asking is not a second NIC
  t.equal((await app.inject({ method: 'POST', url: '/nics/associate', payload: body({ vmUuid: OTHER, vlan: 101 }) })).statusCode, 200);
  t.equal((await app.inject({ method: 'POST', url: '/nics/associate', payload: body({ vmUuid: OTHER, uplink: 'eth1' }) })).statusCode, 200);
  t.equal((await app.inject({ method: 'POST', url: '/nics/associate', payload: body() })).statusCode, 200);
  // once the first NIC is disassociated (and meant to stay so) its filter is free
  t.equal((await app.inject({ method: 'POST', url: `/nics/${firstId}/disassociate` })).statusCode, 200);
  const after = await app.inject({ method: 'POST', url: '/nics/associate', payload: body({ vmUuid: OTHER, mac: '52:54:00:12:34:56', vlan: 100 }) });
  t.equal(after.statusCode, 200, after.body);
});

t.test('DELETE of a NIC lldpad may hold is refused naming its state; ?disassociate=true drops the VSI, then forgets', async (t) => {
  const { app, lldpad } = await setup();
  const a = (await app.inject({ method: 'POST', url: '/nics/associate', payload: body() })).json().nic;
  const refused = await app.inject({ method: 'DELETE', url: `/nics/${a.id}` });
  t.equal(refused.statusCode, 409, refused.body);
  t.equal(refused.json().code, 'QBG_ERR_NIC_HELD');
  t.match(refused.json().error, /is associated/);
  t.ok(lldpad.held.has(a.instanceUuid), 'lldpad still holds it');
  t.equal((await app.inject({ method: 'GET', url: `/nics/${a.id}` })).statusCode, 200, 'and qbg still knows it');

  const del = await app.inject({ method: 'DELETE', url: `/nics/${a.id}?disassociate=true` });
  t.equal(del.statusCode, 204, del.body);
  t.notOk(lldpad.held.has(a.instanceUuid), 'nothing qbg forgot stays held');
  t.same(lldpad.requests.map((r) => r.mode), ['assoc', 'deassoc']);
  t.equal((await app.inject({ method: 'GET', url: `/nics/${a.id}` })).statusCode, 404);

  // a de-associate that does not settle keeps the NIC (and says why)
  const b = (await app.inject({ method: 'POST', url: '/nics/associate', payload: body({ mac: '52:54:00:12:34:57' }) })).json().nic;
  lldpad.next.push(() => ({ kind: 'timeout', afterMs: 10000 }));
  const slow = await app.inject({ method: 'DELETE', url: `/nics/${b.id}?disassociate=true` });
  t.equal(slow.statusCode, 504, slow.body);
  t.equal((await app.inject({ method: 'GET', url: `/nics/${b.id}` })).json().state, 'timed-out', 'kept: it may still be held');
  t.equal((await app.inject({ method: 'DELETE', url: `/nics/${b.id}` })).json().code, 'QBG_ERR_NIC_HELD');

  // a disassociated NIC goes without a request
  const c = (await app.inject({ method: 'POST', url: '/nics/associate', payload: body({ mac: '52:54:00:12:34:58' }) })).json().nic;
  await app.inject({ method: 'POST', url: `/nics/${c.id}/disassociate` });
  const sent = lldpad.requests.length;
  t.equal((await app.inject({ method: 'DELETE', url: `/nics/${c.id}` })).statusCode, 204);
  t.equal(lldpad.requests.length, sent);
});

t.test('CLI: a new VLAN re-associates the NIC; delete refuses a held NIC unless --disassociate', async (t) => {
  const { app, lldpad } = await setup();
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const addr = app.server.address() as { port: number };
  const run = async (args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = { out: (s) => out.push(s), err: (s) => err.push(s), json: false, baseUrl: `http://127.0.0.1:${addr.port}`, fetch, readStdin: async () => '' };
    const code = await nicCommand(args, io);
    return { code, out: out.join('\n'), err: err.join('\n') };
  };
  const assoc = (vlan: number) => run(['associate', '--vm', VM, '--mac', '52:54:00:12:34:56', '--uplink', 'eth0', '--type', 'web', '--vlan', String(vlan)]);
  t.equal((await assoc(101)).code, 0);
  const changed = await assoc(102);
  t.equal(changed.code, 0, changed.err);
  t.match(changed.out, /associated on eth0.*vlan 102/);
  t.same(lldpad.requests.map((r) => `${r.mode}:${r.filters[0].vlan}`), ['assoc:101', 'deassoc:101', 'assoc:102'], 'old filter dropped, new one associated');
  const id = `${VM}_52:54:00:12:34:56`;
  const refused = await run(['delete', id]);
  t.equal(refused.code, 1);
  t.match(refused.err, /is associated.*disassociate/);
  const gone = await run(['delete', id, '--disassociate']);
  t.equal(gone.code, 0, gone.err);
  t.match(gone.out, /forgotten/);
  t.equal(lldpad.held.size, 0);
});

t.test('GET /nics by cursor, and conditional GET: an unchanged list or NIC is 304 without a body', async (t) => {
  const { app } = await setup();
  for (let i = 0; i < 7; i++) await app.inject({ method: 'POST', url: '/nics/associate', payload: body({ mac: `52:54:00:00:00:0${i}` }) });
  const seen: string[] = [];
  let url = '/nics?limit=3';
  for (;;) {
    const page = (await app.inject({ method: 'GET', url })).json();
    t.equal(page.total, 7);
    t.notOk('offset' in page, 'no offset echoed when paging by cursor');
    seen.push(...page.items.map((n: { mac: string }) => n.mac));
    if (page.next === undefined) break;
    url = `/nics?limit=3&after=${encodeURIComponent(page.next)}`;
  }
  t.same(seen, [0, 1, 2, 3, 4, 5, 6].map((i) => `52:54:00:00:00:0${i}`), 'every NIC once, in creation order');
  t.equal((await app.inject({ method: 'GET', url: '/nics?limit=3&offset=3' })).json().offset, 3, 'offset still works');
  const bad = await app.inject({ method: 'GET', url: '/nics?after=bogus' });
  t.equal(bad.statusCode, 400);
  t.equal(bad.json().field, 'after');

  const first = await app.inject({ method: 'GET', url: '/nics?limit=3' });
  const etag = String(first.headers.etag);
  t.match(etag, /^"nics-/);
  const again = await app.inject({ method: 'GET', url: '/nics?limit=3', headers: { 'if-none-match': etag } });
  t.equal(again.statusCode, 304, 'unchanged list: 304');
  t.equal(again.body, '', 'no body');
  t.equal(again.headers.etag, etag);
  const id = first.json().items[1].id;
  const one = await app.inject({ method: 'GET', url: `/nics/${id}` });
  t.equal((await app.inject({ method: 'GET', url: `/nics/${id}`, headers: { 'if-none-match': String(one.headers.etag) } })).statusCode, 304);

  // any change to any NIC: the old ETag no longer matches and the new body shows the change
  await app.inject({ method: 'POST', url: `/nics/${id}/disassociate` });
  const changed = await app.inject({ method: 'GET', url: '/nics?limit=3', headers: { 'if-none-match': etag } });
  t.equal(changed.statusCode, 200);
  t.not(changed.headers.etag, etag);
  t.equal(changed.json().items[1].state, 'disassociated');
  const nic = await app.inject({ method: 'GET', url: `/nics/${id}`, headers: { 'if-none-match': String(one.headers.etag) } });
  t.equal(nic.statusCode, 200);
  t.equal(nic.json().state, 'disassociated');
  t.equal((await app.inject({ method: 'GET', url: '/nics?limit=3', headers: { 'if-none-match': String(changed.headers.etag) } })).statusCode, 304);
});

t.test('wildcard VLAN 0: the VID the bridge assigned is recorded while held and named by the de-associate', async (t) => {
  const { app, nics, lldpad, db } = await setup();
  new TypeService(db).create({ name: 'any', managerId: 16, typeId: 77, typeIdVersion: 1 }); // 'web' allows 100-110 only
  // lldpad reports the filter as the bridge answered it: VID 412 for the wildcard (as lab/simbridge-client shows)
  lldpad.next.push((r) => {
    const filters = r.filters.map((f) => ({ ...f, vlan: 412 }));
    lldpad.held.set(r.instanceUuid, { instanceUuid: r.instanceUuid, mode: r.mode, typeId: r.typeId, typeIdVersion: r.typeIdVersion, managerId2: r.managerId2, filters });
    return { kind: 'accepted', mode: r.mode, latencyMs: 1, filters };
  });
  lldpad.next.push((r) => ({ kind: 'accepted', mode: r.mode, latencyMs: 1 })); // the de-associate
  const a = await app.inject({ method: 'POST', url: '/nics/associate', payload: body({ type: 'any', vlan: 0 }) });
  t.equal(a.statusCode, 200, a.body);
  t.match(a.json().nic, { state: 'associated', vlan: 0, bridgeVlan: 412 });
  t.equal(lldpad.requests[0].filters[0].vlan, 0, 'the request asked for the wildcard');
  t.match((await app.inject(`/nics/${a.json().nic.id}`)).json(), { bridgeVlan: 412 });
  const again = await nics.reconcile(a.json().nic.id);
  t.equal(again.answer, undefined, 'held under the assigned VID: the reconciler sends nothing');
  const d = await app.inject({ method: 'POST', url: `/nics/${a.json().nic.id}/disassociate` });
  t.equal(d.statusCode, 200, d.body);
  t.equal(lldpad.requests.at(-1)!.mode, 'deassoc');
  t.equal(lldpad.requests.at(-1)!.filters[0].vlan, 412, 'lldpad holds it under 412 and refuses a de-associate that says 0');
  t.equal(d.json().nic.bridgeVlan, undefined, 'the assignment ended with the VSI');
});

t.test('a libvirt-owned NIC is observed, never asked for; owner is shown and never changes silently', async (t) => {
  const { app, lldpad, nics } = await setup();
  const INSTANCE = '09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f';
  const observe = (expect: string, over: Record<string, unknown> = {}) =>
    app.inject({ method: 'POST', url: '/nics/observe', payload: body({ instanceUuid: INSTANCE, expect, ...over }) });
  const vsi = { instanceUuid: INSTANCE, mode: 'assoc' as const, typeId: 1193047, typeIdVersion: 2, managerId2: '', filters: [{ vlan: 100, mac: '52:54:00:12:34:56' }] };

  // libvirt associated over netlink (lldpad holds the VSI; qbg asked nothing)
  lldpad.held.set(INSTANCE, vsi);
  let r = await observe('held');
  t.equal(r.statusCode, 200, r.body);
  t.match(r.json(), { nic: { owner: 'libvirt', state: 'associated', instanceUuid: INSTANCE }, held: { mode: 'assoc' }, changed: true });
  const id = r.json().nic.id;
  t.match((await observe('held')).json(), { changed: false }, 'a repeat changes nothing');
  t.equal((await app.inject({ method: 'GET', url: `/nics/${id}` })).json().owner, 'libvirt', 'GET /nics/:id shows the owner');
  t.equal((await app.inject({ method: 'GET', url: '/nics' })).json().items[0].owner, 'libvirt', 'GET /nics shows the owner');

  // qbg must not announce it too, by any path
  r = await app.inject({ method: 'POST', url: '/nics/associate', payload: body({ instanceUuid: INSTANCE }) });
  t.equal(r.statusCode, 409);
  t.match(r.json(), { code: 'QBG_ERR_NIC_OWNER', error: /owned by libvirt on this host, not qbg/ });
  t.equal((await app.inject({ method: 'POST', url: `/nics/${id}/disassociate` })).json().code, 'QBG_ERR_NIC_OWNER');
  lldpad.held.delete(INSTANCE); // lldpad lost it: a reconcile records that, and asks nothing
  const rec = await app.inject({ method: 'POST', url: `/nics/${id}/reconcile` });
  t.match(rec.json(), { nic: { state: 'lost' }, asked: false });
  t.equal(lldpad.requests.length, 0, 'no request ever went to lldpad for it');

  // libvirt associates again, then destroy: libvirt's de-associate is observed
  lldpad.held.set(INSTANCE, vsi);
  t.equal((await observe('held')).json().nic.state, 'associated');
  lldpad.held.delete(INSTANCE);
  t.equal((await observe('gone')).json().nic.state, 'disassociated');
  const h = (await app.inject({ method: 'GET', url: `/nics/${id}/history` })).json();
  t.same(
    h.items.map((e: { event: string; to: string; cause: string }) => `${e.event}→${e.to}:${e.cause}`),
    ['observed-associated→associated:libvirt-started', 'check-missing→lost:admin-reconcile', 'observed-associated→associated:libvirt-started', 'observed-gone→disassociated:libvirt-stopped'],
  );

  // libvirt's request timed out: lldpad lists the VSI ungranted; qbg records why and sends nothing (nothing clears it)
  lldpad.ungranted.set(INSTANCE, { mode: 'assoc', hints: 255 });
  r = await observe('gone');
  t.match(r.json(), { nic: { state: 'failed', reason: /libvirt's assoc got no answer from the bridge: lldpad lists VSI .* ungranted \(hints 255\); lldpad hides it .* until the station's lldpad restarts/ } });
  t.equal(lldpad.requests.length, 0, 'not even a de-associate: lldpad would refuse it (docs/ownership.md)');
  lldpad.ungranted.clear();

  // gone at a stop, never seen held: libvirt's association failed at the start, unless the hook says the NIC was
  // attached while the VM ran (no hook at an attach)
  t.match((await observe('gone', { mac: '52:54:00:12:34:59', instanceUuid: undefined })).json(), { nic: { state: 'failed', reason: /qbg never saw it held/ } });
  t.match((await observe('gone', { mac: '52:54:00:12:34:5a', instanceUuid: undefined, attachedWhileRunning: true })).json(), {
    nic: { owner: 'libvirt', state: 'disassociated', reason: /attached while the VM ran/ },
  });

  // started, but nothing held: failed with why
  t.match((await observe('held', { mac: '52:54:00:12:34:58', instanceUuid: undefined })).json(), {
    nic: { owner: 'libvirt', state: 'failed', reason: /libvirt started the VM, but lldpad holds no VSI/ },
  });

  // an admin may forget it in any state: libvirt, not qbg, holds its VSI
  lldpad.held.set(INSTANCE, vsi);
  await observe('held');
  t.equal((await app.inject({ method: 'DELETE', url: `/nics/${id}` })).statusCode, 204);
  t.equal(lldpad.requests.length, 0);

  // a NIC qbg owns is not observed as libvirt's
  lldpad.held.clear();
  const mine = await app.inject({ method: 'POST', url: '/nics/associate', payload: body({ mac: '52:54:00:12:34:57' }) });
  t.equal(mine.json().nic.owner, 'qbg');
  r = await observe('held', { mac: '52:54:00:12:34:57', instanceUuid: undefined });
  t.match(r.json(), { code: 'QBG_ERR_NIC_OWNER', error: /owned by qbg on this host, not libvirt/ });
  t.equal(r.statusCode, 409);
  t.equal(nics.repo.get(mine.json().nic.id)?.owner, 'qbg');
  t.equal((await observe('sometimes')).statusCode, 400, 'expect is held or gone');
});

t.test('the finiteness pass runs only on request parts whose schema can hold a number', async (t) => {
  const { hasNumber } = await import('../../src/api/server.js');
  const { Type } = await import('typebox');
  t.equal(hasNumber(Type.Object({ id: Type.String() })), false, 'a string-only part');
  t.equal(hasNumber(Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1 })) })), true, 'an optional integer');
  t.equal(hasNumber(Type.Object({ x: Type.Union([Type.String(), Type.Number()]) })), true, 'a union with a number');
  t.equal(hasNumber(Type.Object({ ids: Type.Array(Type.Integer()) })), true, 'an array of integers');
  t.equal(hasNumber({ type: ['string', 'null'] }), false);
  t.equal(hasNumber({ type: ['string', 'number'] }), true);
});
