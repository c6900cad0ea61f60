// Property-based bad-input tests of every API body, query and path parameter that changes state: /types,
// /uplinks, /nics (+ /migrations). Random JSON — wrong types, out-of-range numbers, extra or missing fields,
// huge strings, unicode, prototype keys — must be answered with a 4xx whose JSON carries a QBG_ERR_ code and
// names the field (or the body), never a 5xx; and a rejected request must leave the store exactly as it was
// (every table of the in-memory SQLite store compared before and after, plus the uplink config store).
import t from 'tap';
import type { Test } from 'tap';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/api/server.js';
import { typesRoutes } from '../../src/api/types-routes.js';
import { uplinksRoutesFor } from '../../src/api/uplinks-routes.js';
import { nicsRoutes } from '../../src/api/nics-routes.js';
import { remotesRoutes, typedbRoutes } from '../../src/api/typedb-routes.js';
import { RemoteRegistry } from '../../src/vtdb/remote-registry.js';
import { qbgError } from '../../src/domain/errors.js';
import { openDatabase } from '../../src/store/db.js';
import { NicRepo } from '../../src/store/nic-repo.js';
import { TypeService } from '../../src/vtdb/type-service.js';
import { NicService } from '../../src/service/nic-service.js';
import { MigrationService } from '../../src/service/migration.js';
import { MemoryUplinkConfigStore, UplinkManager } from '../../src/service/uplink-manager.js';
import type { Lldptool } from '../../src/lldpad/lldptool.js';
import type { VsiAssociator, VsiOutcome, VsiRequest, VsiStatus } from '../../src/domain/vsi-request.js';
import { badBodyArb, checkRefusal, nastyJson, nastyString, RUNS } from './arbitraries.js';

/** lldpad is the one thing not here: a transport that accepts every request and counts them. */
class AcceptingLldpad implements VsiAssociator {
  held = new Map<string, VsiStatus>();
  requests: VsiRequest[] = [];
  async request(r: VsiRequest): Promise<VsiOutcome> {
    this.requests.push(r);
    if (r.mode === 'deassoc') this.held.delete(r.instanceUuid);
    else this.held.set(r.instanceUuid, { instanceUuid: r.instanceUuid, mode: r.mode, typeId: r.typeId, typeIdVersion: r.typeIdVersion, managerId2: r.managerId2, filters: r.filters });
    return { kind: 'accepted', mode: r.mode, latencyMs: 1 };
  }
  async query(_uplink: string, uuid: string) {
    return this.held.get(uuid);
  }
  onEvent() {
    return () => undefined;
  }
  async ping() {
    return { ok: true, pid: 1 };
  }
  async close() {}
}

const VM = '8c6f9e6e-2d0b-4a4e-9b3e-0e5f1f2a3b4c';
const validType = { name: 'web', description: 'front end', managerId: 16, typeId: 1193047, typeIdVersion: 2, filterFormat: 'vlan-mac', allowedVlans: [100, '101-110', { from: 200, to: 210 }] };
const validEdit = { description: 'x', typeId: 5, allowedVlans: ['100-120'], managerId2: '10' };
const validNic = { vmUuid: VM, mac: '52:54:00:12:34:56', uplink: 'eth0', type: 'web', vlan: 100, version: 2, instanceUuid: '11111111-2222-3333-4444-555555555555', mode: 'assoc' };
const validUplink = { uplink: 'eth0', netns: 'ns1', adminStatus: 'rxtx', evbTx: true, role: 'station', gpid: false, reflectiveRelay: true, ecpRetries: 3, ecpRte: 8, vdpRka: 20, vdpRwd: 20 };
const { vmUuid: _vm, mode: _mode, ...validMigrationNic } = validNic;

const db = openDatabase(':memory:');
const types = new TypeService(db);
types.create({ name: 'web', managerId: 16, typeId: 1193047, typeIdVersion: 2, allowedVlans: ['100-110'] });
types.create({ name: 'db', managerId: 17, typeId: 7, typeIdVersion: 1 });
const lldpad = new AcceptingLldpad();
const nics = new NicService({ repo: new NicRepo(db), associator: lldpad, types });
const uplinkStore = new MemoryUplinkConfigStore();
const noLldptool = (): Lldptool => {
  throw qbgError('QBG_ERR_LLDPAD_UNREACHABLE', '', 'no lldptool in this test');
};
const uplinks = new UplinkManager({ store: uplinkStore, lldptool: noLldptool });
const app: FastifyInstance = await buildServer({
  routes: [
    typesRoutes({ types }),
    uplinksRoutesFor(uplinks),
    nicsRoutes({ nics, migration: new MigrationService(nics) }),
    typedbRoutes({ types }),
    remotesRoutes({ remotes: new RemoteRegistry(db), types }),
  ],
  logLevel: 'silent',
});
t.teardown(() => app.close());

const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name);
const dumps = tables.map((n) => [n, db.prepare(`SELECT * FROM "${n}"`)] as const);
/** Everything the service has stored: every SQLite table and the uplink configs. */
const snapshot = () => ({
  db: Object.fromEntries(dumps.map(([n, st]) => [n, st.all()])),
  uplinks: uplinkStore.list(),
  lldpadRequests: lldpad.requests.length,
});

// one associated NIC and one configured uplink, so edits, disassociates and deletes have something to hit
t.before(async () => {
  const a = await app.inject({ method: 'POST', url: '/nics/associate', payload: { vmUuid: VM, mac: '52:54:00:00:00:01', uplink: 'eth0', type: 'web', vlan: 100 } });
  if (a.statusCode !== 200) throw new Error(a.body);
  const u = await app.inject({ method: 'PUT', url: '/uplinks/eth0', payload: { ecpRte: 8 } });
  if (u.statusCode !== 200) throw new Error(u.body);
});

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
interface Req {
  method: Method;
  url: string;
  payload?: unknown;
  query?: Record<string, string>;
}

/** Path parameters as a client could send them: anything, percent-encoded. */
const segment = fc.oneof(nastyString.filter((s) => s.length > 0 && s.length < 3000), fc.constantFrom('web', 'eth0', `${VM}_52:54:00:00:00:01`, VM));
/** Percent-encode; lone surrogates cannot be encoded, so they go out as raw broken escapes (%ED%A0) instead. */
const enc = (s: string) => {
  try {
    return encodeURIComponent(s);
  } catch {
    return encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '')) + '%ED%A0';
  }
};

async function send(r: Req): Promise<{ statusCode: number; body: string }> {
  // JSON.stringify ourselves: inject would turn a string payload into a text body
  return app.inject({
    method: r.method,
    url: r.url,
    ...(r.query ? { query: r.query } : {}),
    ...(r.payload !== undefined ? { payload: JSON.stringify(r.payload) ?? 'null', headers: { 'content-type': 'application/json' } } : {}),
  });
}

/** Runs the property: every refusal is a catalogue 4xx naming a field, and leaves no trace in the store. */
async function refusedLeaveNoTrace(t: Test, what: string, arb: fc.Arbitrary<Req>): Promise<void> {
  let refused = 0;
  await fc.assert(
    fc.asyncProperty(arb, async (r) => {
      const before = snapshot();
      const res = await send(r);
      const label = `${r.method} ${r.url.slice(0, 120)} ${JSON.stringify(r.payload)?.slice(0, 200)} ${JSON.stringify(r.query)?.slice(0, 100)}`;
      // validation refusals (400/413/422) name the field; 404/409 name the thing in their message
      const isValidation = [400, 413, 422].includes(res.statusCode);
      if (!checkRefusal(res, label, { needField: isValidation })) return;
      refused++;
      const after = snapshot();
      if (!isDeepStrictEqual(after, before)) {
        const diff = Object.keys(after.db).filter((k) => !isDeepStrictEqual(after.db[k], before.db[k]));
        const what = [...diff, ...(isDeepStrictEqual(after.uplinks, before.uplinks) ? [] : ['uplink configs']), ...(after.lldpadRequests !== before.lldpadRequests ? ['lldpad was asked'] : [])];
        throw new Error(`${label}: refused with ${res.body.slice(0, 200)} but the store changed: ${what.join(', ')} ${diff.map((k) => JSON.stringify(after.db[k]).slice(-300)).join(' ')}`);
      }
    }),
    { numRuns: RUNS },
  );
  t.ok(refused > RUNS / 2, `${what}: ${refused} of ${RUNS} refused, all with a catalogue 4xx, none left a trace`);
}

t.test('/types: create, edit, delete, read with random bodies and names', async (t) => {
  await refusedLeaveNoTrace(
    t,
    '/types',
    fc.oneof(
      badBodyArb(validType).map((payload): Req => ({ method: 'POST', url: '/types', payload })),
      fc.tuple(fc.constantFrom('web', 'db', 'nope'), badBodyArb(validEdit)).map(([n, payload]): Req => ({ method: 'PUT', url: `/types/${n}`, payload })),
      fc.tuple(segment, nastyJson).map(([n, payload]): Req => ({ method: 'PUT', url: `/types/${enc(n)}`, payload })),
      segment.map((n): Req => ({ method: 'DELETE', url: `/types/${enc(n)}x` })),
      fc.tuple(segment, segment).map(([n, v]): Req => ({ method: 'GET', url: `/types/${enc(n)}/versions/${enc(v)}` })),
    ),
  );
});

t.test('/nics and /migrations: associate, prepare, list and history queries, ids', async (t) => {
  const query = fc.dictionary(fc.constantFrom('vm', 'uplink', 'state', 'type', 'limit', 'offset', 'after', 'x'), nastyString.filter((s) => s.length < 3000), { maxKeys: 4 });
  await refusedLeaveNoTrace(
    t,
    '/nics',
    fc.oneof(
      badBodyArb(validNic).map((payload): Req => ({ method: 'POST', url: '/nics/associate', payload })),
      fc.oneof(badBodyArb({ nics: [validMigrationNic] }), badBodyArb(validMigrationNic).map((n) => ({ nics: [n] }))).map(
        (payload): Req => ({ method: 'POST', url: `/migrations/${VM}/prepare`, payload }),
      ),
      fc.tuple(segment, nastyJson).map(([vm, payload]): Req => ({ method: 'POST', url: `/migrations/${enc(vm)}x/prepare`, payload })),
      query.map((q): Req => ({ method: 'GET', url: '/nics', query: q })),
      query.map((q): Req => ({ method: 'GET', url: `/nics/${enc(`${VM}_52:54:00:00:00:01`)}/history`, query: q })),
      segment.map((id): Req => ({ method: 'POST', url: `/nics/${enc(id)}x/disassociate` })),
      segment.map((id): Req => ({ method: 'DELETE', url: `/nics/${enc(id)}x` })),
    ),
  );
});

t.test('/uplinks: put and delete with random bodies and names (lldpad is never asked)', async (t) => {
  await refusedLeaveNoTrace(
    t,
    '/uplinks',
    fc.oneof(
      fc.tuple(fc.constantFrom('eth0', 'eth1'), badBodyArb(validUplink)).map(([n, payload]): Req => ({ method: 'PUT', url: `/uplinks/${n}`, payload })),
      fc.tuple(segment, nastyJson).map(([n, payload]): Req => ({ method: 'PUT', url: `/uplinks/${enc(n)}`, payload })),
      segment.map((n): Req => ({ method: 'DELETE', url: `/uplinks/${enc(n)}x` })),
    ),
  );
});

t.test('/typedb/v1 and /remotes: random names, remotes and query strings (no remote configured)', async (t) => {
  await refusedLeaveNoTrace(
    t,
    '/typedb, /remotes',
    fc.oneof(
      segment.map((n): Req => ({ method: 'GET', url: `/typedb/v1/types/${enc(n)}x` })),
      segment.map((r): Req => ({ method: 'GET', url: `/remotes/${enc(r)}/types` })),
      fc.tuple(segment, segment, fc.dictionary(fc.constantFrom('allowStale', 'x'), nastyString.filter((s) => s.length < 100), { maxKeys: 2 })).map(
        ([r, n, query]): Req => ({ method: 'POST', url: `/remotes/${enc(r)}/types/${enc(n)}/import`, query }),
      ),
    ),
  );
});

// --- regressions for what the properties found ---

t.test('regression: a prepare refused for bad input leaves the VM\'s other NICs alone and asks lldpad nothing', async (t) => {
  // was: any refused NIC rolled back EVERY NIC of the VM on this host (a running VM lost its associations)
  const vm = '0b6f9e6e-2d0b-4a4e-9b3e-0e5f1f2a3b4c';
  types.create({ name: 'regr', managerId: 18, typeId: 99, typeIdVersion: 1, allowedVlans: ['100-110'] }); // untouched by the properties
  const a = await app.inject({ method: 'POST', url: '/nics/associate', payload: { vmUuid: vm, mac: '52:54:00:00:0a:01', uplink: 'eth0', type: 'regr', vlan: 101 } });
  t.equal(a.statusCode, 200, a.body);
  for (const nic of [
    { mac: '52:54:00:00:0a:02', uplink: 'eth0', type: 'regr', vlan: 100, version: 7 }, // no such version
    { mac: '52:54:00:00:0a:02', uplink: 'eth0', type: 'nope', vlan: 100 }, // no such type
    { mac: '52:54:00:00:0a:02', uplink: 'eth0', type: 'regr', vlan: 4000 }, // VLAN not allowed by the type
    { mac: '52:54:00:00:0a:02', uplink: 'bad name!', type: 'regr', vlan: 100 }, // malformed: refused before any request
  ]) {
    const before = snapshot();
    const r = await app.inject({ method: 'POST', url: `/migrations/${vm}/prepare`, payload: { nics: [nic] } });
    t.ok(r.statusCode >= 400 && r.statusCode < 500, r.body);
    t.same(snapshot(), before, `nothing changed after ${r.json().code}`);
  }
  const g = await app.inject({ method: 'GET', url: `/nics/${encodeURIComponent(`${vm}_52:54:00:00:0a:01`)}` });
  t.equal(g.json().state, 'associated', 'the NIC associated before is still associated');
});

t.test('regression: uplink name in body and path differ → the error names field uplink', async (t) => {
  const r = await app.inject({ method: 'PUT', url: '/uplinks/eth1', payload: { uplink: 'eth0' } });
  t.equal(r.statusCode, 400);
  t.match(r.json(), { code: 'QBG_ERR_BAD_REQUEST', field: 'uplink' });
});

t.test('regression: over-long path parameters and broken percent-encoding get the catalogue shape', async (t) => {
  // the router answered these itself: {"error":"Bad Request","code":"FST_ERR_MAX_PARAM_LENGTH",...}
  const long = await app.inject({ method: 'DELETE', url: `/types/${'x'.repeat(101)}` });
  t.equal(long.statusCode, 414);
  t.match(long.json(), { statusCode: 414, code: 'QBG_ERR_URL_PARAM_LENGTH', field: 'url' });
  const broken = await app.inject({ method: 'GET', url: '/types/%E0%A4%A' });
  t.equal(broken.statusCode, 400);
  t.match(broken.json(), { statusCode: 400, code: 'QBG_ERR_URL', field: 'url' });
});

// Found by the properties: ajv's coerceTypes 'array' applied to bodies too, so a required integer given as null,
// true, "3" or [7] was silently taken as 0, 1, 3 or 7. Bodies are now validated without coercion (server.ts).
t.test('bodies are not type-coerced: null / boolean / array for an integer is refused', async (t) => {
  for (const bad of [null, true, [7], '3']) {
    const r = await app.inject({ method: 'POST', url: '/types', payload: { name: `coerce-${typeof bad}`, managerId: 1, typeId: bad, typeIdVersion: 1 } });
    t.equal(r.statusCode, 400, `typeId ${JSON.stringify(bad)}: ${r.body.slice(0, 120)}`);
  }
});
