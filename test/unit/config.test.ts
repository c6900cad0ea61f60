import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, DEFAULT_PORT } from '../../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'qbg-config-'));

t.test('defaults need no setup: loopback, embedded SQLite, vdp22 transport', async (t) => {
  const c = loadConfig({ env: {} });
  t.equal(c.listen.host, '127.0.0.1');
  t.equal(c.listen.port, DEFAULT_PORT);
  t.match(c.dbPath, /qbg\.db$/);
  t.equal(c.lldpad.transport, 'vdp22');
  t.same(c.tokens, { admin: [], hook: [], monitor: [] });
});

t.test('file then environment: env wins, nested objects merge', async (t) => {
  const f = join(dir, 'c.yaml');
  writeFileSync(f, 'listen:\n  port: 9000\nlldpad:\n  netns: lab1\nremotes:\n  - name: core\n    url: http://127.0.0.1:1/\n');
  const c = loadConfig({ path: f, env: { QBG_PORT: '9100', QBG_ADMIN_TOKENS: 'a1, a2', QBG_DB: '/tmp/x.db' } });
  t.equal(c.listen.port, 9100);
  t.equal(c.listen.host, '127.0.0.1', 'unset keys keep defaults');
  t.equal(c.lldpad.netns, 'lab1');
  t.equal(c.lldpad.transport, 'vdp22');
  t.same(c.tokens.admin, ['a1', 'a2']);
  t.equal(c.dbPath, '/tmp/x.db');
  t.equal(c.remotes[0].ttlSeconds, 60, 'remote ttl defaulted');
});

t.test('bad values are refused naming the setting and the range', async (t) => {
  t.throws(() => loadConfig({ env: { QBG_PORT: '70000' } }), { code: 'QBG_ERR_CONFIG', message: /QBG_PORT.*0–65535/ });
  t.throws(() => loadConfig({ env: { QBG_LLDPAD_TRANSPORT: 'carrier-pigeon' } }), { code: 'QBG_ERR_CONFIG', message: /vdp22 or netlink/ });
  const f = join(dir, 'bad.yaml');
  writeFileSync(f, '- just\n- a list\n');
  t.throws(() => loadConfig({ path: f, env: {} }), { code: 'QBG_ERR_CONFIG', message: /must be a mapping/ });
  t.throws(() => loadConfig({ path: join(dir, 'missing.yaml'), env: {} }), { code: 'QBG_ERR_CONFIG' });
});

t.test('fleet: off by default; QBG_FLEET_URL turns it on with defaults; bad settings name the field', async (t) => {
  t.equal(loadConfig({ env: {} }).fleet, undefined, 'no fleet unless configured');
  const c = loadConfig({ env: { QBG_FLEET_URL: 'postgres://qbg@db.example/qbg', QBG_FLEET_HOST: 'hv-017' } });
  t.match(c.fleet, { postgres: 'postgres://qbg@db.example/qbg', host: 'hv-017', heartbeatSeconds: 5, staleSeconds: 60, drainBatch: 500 });
  const f = join(dir, 'fleet.yaml');
  writeFileSync(f, 'fleet:\n  postgres: "postgresql://qbg:pw@10.0.0.5/qbg"\n');
  t.match(loadConfig({ path: f, env: {} }).fleet, { postgres: 'postgresql://qbg:pw@10.0.0.5/qbg', host: /./ }, 'one line: host defaults to the hostname');
  t.throws(() => loadConfig({ env: { QBG_FLEET_HOST: 'hv-1' } }), { code: 'QBG_ERR_CONFIG', message: /fleet\.postgres.*postgres:\/\// });
  t.throws(() => loadConfig({ env: { QBG_FLEET_URL: 'mysql://x/y' } }), { code: 'QBG_ERR_CONFIG', message: /fleet\.postgres/ });
  t.throws(() => loadConfig({ env: { QBG_FLEET_URL: 'postgres://x/y', QBG_FLEET_HOST: 'hv 1; rm' } }), { code: 'QBG_ERR_CONFIG', message: /fleet\.host.*1–64/ });
  writeFileSync(f, 'fleet:\n  postgres: "postgres://x/y"\n  staleSecs: 3\n');
  t.throws(() => loadConfig({ path: f, env: {} }), { code: 'QBG_ERR_CONFIG', message: /fleet\.staleSecs: is not a fleet setting/ });
  writeFileSync(f, 'fleet:\n  postgres: "postgres://x/y"\n  heartbeatSeconds: 0\n');
  t.throws(() => loadConfig({ path: f, env: {} }), { code: 'QBG_ERR_CONFIG', message: /fleet\.heartbeatSeconds.*> 0/ });
  t.equal(c.fleet!.transitionRetentionDays, 30, 'fleet transitions kept 30 days by default');
  writeFileSync(f, 'fleet:\n  postgres: "postgres://x/y"\n  transitionRetentionDays: 7\n');
  t.equal(loadConfig({ path: f, env: {} }).fleet!.transitionRetentionDays, 7);
  for (const bad of ['0', '1.5', '3651', '"a week"']) {
    writeFileSync(f, `fleet:\n  postgres: "postgres://x/y"\n  transitionRetentionDays: ${bad}\n`);
    t.throws(() => loadConfig({ path: f, env: {} }), { code: 'QBG_ERR_CONFIG', message: /fleet\.transitionRetentionDays: must be a whole number of days 1–3650/ }, bad);
  }
});

t.test('listen.insecureNoAuth and the rate limit knobs are checked', async (t) => {
  t.equal(loadConfig({ env: { QBG_INSECURE_NO_AUTH: '1' } }).listen.insecureNoAuth, true);
  t.equal(loadConfig({ env: { QBG_INSECURE_NO_AUTH: 'false' } }).listen.insecureNoAuth, false);
  t.equal(loadConfig({ env: {} }).listen.insecureNoAuth, undefined, 'off unless asked for');
  t.throws(() => loadConfig({ env: { QBG_INSECURE_NO_AUTH: 'yes please' } }), { code: 'QBG_ERR_CONFIG', message: /QBG_INSECURE_NO_AUTH: must be 1, true, 0 or false/ });
  const f = join(dir, 'limits.yaml');
  writeFileSync(f, 'listen:\n  insecureNoAuth: "yes"\n');
  t.throws(() => loadConfig({ path: f, env: {} }), { code: 'QBG_ERR_CONFIG', message: /listen\.insecureNoAuth: must be true or false/ });
  writeFileSync(f, 'limits:\n  ratePerSecond: -1\n');
  t.throws(() => loadConfig({ path: f, env: {} }), { code: 'QBG_ERR_CONFIG', message: /limits\.ratePerSecond: must be a number ≥ 0/ });
  writeFileSync(f, 'limits:\n  rateBurst: 0.5\n');
  t.throws(() => loadConfig({ path: f, env: {} }), { code: 'QBG_ERR_CONFIG', message: /limits\.rateBurst: must be an integer ≥ 1/ });
  writeFileSync(f, 'limits:\n  ratePerSecond: 0\n  rateBurst: 0\n');
  t.equal(loadConfig({ path: f, env: {} }).limits.ratePerSecond, 0, 'off: the burst does not matter');
});

t.test('ownership: qbg by default, libvirt from the file or QBG_OWNERSHIP, anything else named', async (t) => {
  t.equal(loadConfig({ env: {} }).ownership, 'qbg');
  const f = join(dir, 'own.yaml');
  writeFileSync(f, 'ownership: libvirt\n');
  t.equal(loadConfig({ path: f, env: {} }).ownership, 'libvirt');
  t.equal(loadConfig({ path: f, env: { QBG_OWNERSHIP: 'qbg' } }).ownership, 'qbg', 'env wins');
  t.throws(() => loadConfig({ env: { QBG_OWNERSHIP: 'both' } }), { code: 'QBG_ERR_CONFIG', message: /ownership.*must be qbg or libvirt.*got both/ });
});
