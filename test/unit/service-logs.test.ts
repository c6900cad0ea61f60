// Log levels of a real service run (createService, listening, requests over HTTP), read from the pino JSON lines
// it writes: info for the normal flow, warn for timeouts, refusals, reconcile failures and retries, error for an
// internal fault. A scripted lldpad stands in for the transport (the lab tests cover the real one).
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../../src/config.js';
import { createService } from '../../src/service/app.js';
import { ScriptedLldpad } from '../helpers/scripted-lldpad.js';
import { until } from '../helpers/until.js';

interface Line {
  level: number;
  msg: string;
  [k: string]: unknown;
}
const INFO = 30;
const WARN = 40;
const ERROR = 50;

const lines: Line[] = [];
const config = defaultConfig();
config.dbPath = join(mkdtempSync(join(tmpdir(), 'qbg-logs-')), 'qbg.db');
config.listen.port = 0;
config.logLevel = 'info';
const lldpad = new ScriptedLldpad();
const svc = await createService(config, { associator: lldpad, logDestination: { write: (s: string) => void lines.push(JSON.parse(s)) } });
const [url] = await svc.start();
t.teardown(() => svc.stop());

const VM = '8c6f9e6e-2d0b-4a4e-9b3e-0e5f1f2a3b4c';
const post = (path: string, body?: unknown) =>
  fetch(`${url}${path}`, { method: 'POST', ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
const associate = (mac: string) => post('/nics/associate', { vmUuid: VM, mac, uplink: 'eth0', type: 'web', vlan: 100 });
const requestLine = (status: number) => lines.find((l) => l.msg === 'request completed' && (l.res as { statusCode?: number })?.statusCode === status);
const transitionTo = (to: string) => lines.filter((l) => l.to === to);

t.test('the normal flow is info, and only info', async (t) => {
  t.equal((await fetch(`${url}/healthz`)).status, 200);
  t.equal((await post('/types', { name: 'web', managerId: 1, typeId: 100, typeIdVersion: 1 })).status, 201);
  t.equal((await associate('52:54:00:00:00:01')).status, 200);
  await until('the associated transition is logged', async () => transitionTo('associated').length > 0, 5000, 20);
  t.ok(lines.length >= 5, `${lines.length} lines`);
  t.same(lines.filter((l) => l.level !== INFO).map((l) => `${l.level} ${l.msg}`), [], 'no warning or error');
  t.match(transitionTo('associated')[0], { level: INFO, cause: 'lldpad-answer', msg: /associating → associated/ });
  t.match(requestLine(200), { level: INFO, req: { method: 'GET' } });
  t.notOk(lines.some((l) => l.msg === 'incoming request'), 'one line per request, not two');
});

t.test('a timeout is a warning: the NIC transition and the 504', async (t) => {
  lldpad.next.push(() => ({ kind: 'timeout', afterMs: 10 }));
  t.equal((await associate('52:54:00:00:00:02')).status, 504);
  t.match(transitionTo('timed-out')[0], { level: WARN, msg: /timed-out/ });
  t.match(requestLine(504), { level: WARN });
});

t.test('a refusal (the bridge rejects the VSI) is a warning', async (t) => {
  lldpad.next.push(() => ({ kind: 'rejected', reasonCode: 3, reason: 'insufficient resources', latencyMs: 1 }));
  t.equal((await associate('52:54:00:00:00:03')).status, 409);
  t.match(transitionTo('failed')[0], { level: WARN, reason: /insufficient resources/ });
  t.match(requestLine(409), { level: WARN });
  t.equal((await fetch(`${url}/types/no-such-type`)).status, 404);
  t.match(requestLine(404), { level: INFO }, 'a lookup that finds nothing is not a refusal (hooks look a NIC up first)');
  t.equal((await post('/types', { name: 'bad name' })).status, 400);
  t.match(requestLine(400), { level: WARN });
});

t.test('a reconcile that fails, and the retries after it, are warnings', async (t) => {
  // every request from here on is refused: the sweep fails, then the backoff retries fail too
  lldpad.next.push(...Array.from({ length: 50 }, () => () => ({ kind: 'rejected' as const, reasonCode: 3, reason: 'still no resources', latencyMs: 1 })));
  t.equal((await post('/reconcile')).status, 200);
  const finished = await until('a failed sweep is logged', async () => lines.find((l) => l.notice === 'reconcile-finished' && Number(l.failed) > 0), 10_000, 50);
  t.equal(finished.level, WARN);
  const retry = await until('a retry is logged', async () => lines.find((l) => l.cause === 'reconcile-retry'), 20_000, 100);
  t.equal(retry.level, WARN, `${retry.msg}`);
  t.match(lines.find((l) => l.notice === 'reconcile-started'), { level: INFO }, 'starting a sweep is the normal flow');
  lldpad.next.length = 0;
});

t.test('an internal fault is an error: the cause and the 500', async (t) => {
  await svc.reconciler.stop(); // nothing else touches the store from here on
  svc.db.close(); // the store is gone under a running service: every query throws
  const r = await fetch(`${url}/types`);
  t.equal(r.status, 500);
  t.match(await r.json(), { code: 'QBG_ERR_INTERNAL' });
  t.match(lines.find((l) => l.msg === 'unexpected error'), { level: ERROR, err: { message: /not open/ } });
  t.match(requestLine(500), { level: ERROR });
});
