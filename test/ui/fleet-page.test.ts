// The admin page's fleet section in a real headless browser (Debian chromium) against two qbg services on one real
// PostgreSQL (scripted associator: the fleet section is about PostgreSQL, not lldpad). A monitor sees the hosts and
// another host's NICs, filters, pages with "More NICs", and reads the double-held finding; an admin's type edit
// based on a version someone else replaced meanwhile is refused with the race named.
import t from 'tap';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { defaultConfig, type QbgConfig } from '../../src/config.js';
import { createService, type QbgService } from '../../src/service/app.js';
import { startPostgres } from '../helpers/postgres.js';
import { ScriptedLldpad } from '../helpers/scripted-lldpad.js';
import { until } from '../helpers/until.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKENS = { admin: ['fleet-ui-admin'], hook: [], monitor: ['fleet-ui-monitor'] };

async function launch(t: { teardown(fn: () => unknown): void }): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) throw new Error(`the UI tests need Debian chromium at ${CHROMIUM}: apt-get install -y chromium (or run .ci/install-deps)`);
  const profile = mkdtempSync(join(tmpdir(), 'qbg-ui-fleet-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'],
  });
  t.teardown(async () => {
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
  });
  return ctx;
}

t.test('fleet section: hosts, NICs of another host with filter and paging, findings; raced type edit refused', async (t) => {
  const cluster = await startPostgres({ name: 'fleet-ui' });
  t.teardown(() => cluster.destroy());
  const url = await cluster.createDatabase('fleet');
  const start = async (host: string): Promise<{ svc: QbgService; base: string }> => {
    const c: QbgConfig = defaultConfig();
    c.dbPath = join(mkdtempSync(join(tmpdir(), 'qbg-ui-fleet-db-')), 'qbg.db');
    c.listen.port = 0;
    c.logLevel = 'silent';
    c.tokens = TOKENS;
    c.limits.ratePerSecond = 0;
    c.fleet = { postgres: url, host, heartbeatSeconds: 0.5, staleSeconds: 60, catchUpSeconds: 0.5, backoffMaxSeconds: 0.5, migrationGraceSeconds: 30, drainBatch: 500 };
    const svc = await createService(c, { associator: new ScriptedLldpad() });
    const [base] = await svc.start();
    t.teardown(() => svc.stop());
    await until('fleet ready', async () => svc.fleet!.status().schemaReady, 20_000, 50);
    return { svc, base };
  };
  const a = await start('hv-a');
  const b = await start('hv-b');
  const call = async (base: string, method: string, path: string, body?: unknown) => {
    const r = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${TOKENS.admin[0]}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    return r.json();
  };
  await call(a.base, 'POST', '/types', { name: 'web', managerId: 1, typeId: 100, typeIdVersion: 1 });
  await until('b has the type', async () => b.svc.types.get('web') !== undefined, 10_000, 50);
  const vm = (i: number) => `8c6f9e6e-2d0b-4a4e-9b3e-${String(i).padStart(12, '0')}`;
  for (let i = 1; i <= 105; i++) await call(b.base, 'POST', '/nics/associate', { vmUuid: vm(i), mac: `52:54:00:00:01:${(i % 256).toString(16).padStart(2, '0')}`, uplink: i % 2 ? 'eth0' : 'eth1', type: 'web', vlan: 10 });
  const shared = '11111111-2222-4333-8444-555555555555';
  await call(a.base, 'POST', '/nics/associate', { vmUuid: vm(500), mac: '52:54:00:00:05:00', uplink: 'eth0', type: 'web', vlan: 10, instanceUuid: shared });
  await call(b.base, 'POST', '/nics/associate', { vmUuid: vm(501), mac: '52:54:00:00:05:01', uplink: 'eth0', type: 'web', vlan: 10, instanceUuid: shared });
  await until('drained', async () => a.svc.fleet!.status().outbox.rows === 0 && b.svc.fleet!.status().outbox.rows === 0, 20_000, 50);
  // findings are as of the checker host's last round (a reads them from PostgreSQL if b holds the checker lock)
  await until('the checker found it', async () => (await a.svc.fleet!.check()).some((f) => f.detail.instanceUuid === shared), 10_000, 50);

  const ctx = await launch(t);
  const page = await ctx.newPage();
  await page.goto(`${a.base}/ui`);
  await page.getByLabel('Role token').fill(TOKENS.monitor[0]);
  await page.getByLabel('Role token').press('Enter');
  await page.locator('#fleet').waitFor({ state: 'visible' });
  // the section shows before its parts have loaded (each its own request): wait for each, then read it
  const shown = async (selector: string, text: RegExp): Promise<string | null> => {
    await page.locator(selector, { hasText: text }).waitFor({ timeout: 10_000 }).catch(() => undefined);
    return page.locator(selector).textContent();
  };
  t.match(await shown('#fleet-status', /This host is hv-a/), /This host is hv-a .*reachable.*all NIC changes published/);
  t.match(await shown('#fleet-hosts tr[data-host="hv-b"]', /associated/), /associated 106/);
  t.match(await shown('#fleet-findings', /held on/), new RegExp(`VSI ${shared} held on hv-a and hv-b`));
  await until('the first page of fleet NICs', async () => (await page.locator('#fleet-nics tbody tr').count()) > 0, 10_000, 50);
  t.equal(await page.locator('#fleet-nics tbody tr').count(), 100, 'first page of 100');
  await page.getByRole('button', { name: 'More NICs' }).click();
  await until('second page appended', async () => (await page.locator('#fleet-nics tbody tr').count()) === 107, 10_000, 50);
  t.ok(await page.getByRole('button', { name: 'More NICs' }).isHidden(), 'no more pages');
  await page.locator('#fleet-filter').getByLabel('Host').fill('hv-b');
  await page.locator('#fleet-filter').getByLabel('Uplink').fill('eth1');
  await page.locator('#fleet-filter').getByRole('button', { name: 'Show' }).click();
  await until('filtered', async () => (await page.locator('#fleet-nics tbody tr').count()) === 52, 10_000, 50);
  t.equal(await page.locator('#fleet-nics tbody tr[data-fleet-nic^="hv-a/"]').count(), 0, 'only hv-b NICs on eth1');

  // an admin opens "new version" of web (version 1); meanwhile another host makes version 2; saving is refused
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Role token').fill(TOKENS.admin[0]);
  await page.getByLabel('Role token').press('Enter');
  await page.locator('#types tbody tr').first().waitFor();
  await page.locator('#types').getByRole('button', { name: /new version/i }).first().click();
  await call(b.base, 'PUT', '/types/web', { description: 'changed on hv-b' });
  await page.locator('#type-form').getByLabel('Allowed VLANs').fill('10-20');
  await page.locator('#type-form').getByRole('button', { name: 'Create version' }).click();
  await page.locator('#error').waitFor({ state: 'visible' });
  t.match(await page.locator('#error').textContent(), /QBG_ERR_TYPE_RACED: VSI type web is at version 2 but this change was based on version 1/);
});
