// The admin page at /ui in a real headless browser (Debian chromium driven by playwright-core) against a running
// qbg whose NIC service talks to a real station lldpad in a lab; the bridge is our simulated bridge, so one NIC
// can be rejected with a known reason. Nothing here reads the page's own state: only what a user would see.
import t from 'tap';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startLab } from '../lab/harness.js';
import { startSim } from '../lab/simbridge-process.js';
import { Vdp22Client } from '../../src/lldpad/vdp22-client.js';
import { stableInstanceId } from '../../src/domain/instance-uuid.js';
import { nicId } from '../../src/domain/nic.js';
import type { VsiRequest } from '../../src/domain/vsi-request.js';
import { startQbg, TOKENS } from './server-fixture.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'ui-screenshot.png');
const VM = '6a1d2f7e-1c3b-4d5e-8f90-a1b2c3d4e5f6';
const EXP = '17'; // RKA/RWD 17 both sides: lldpad's own response wait ≈ 2 s instead of ≈ 10 s

async function launch(t: { teardown(fn: () => unknown): void }): Promise<BrowserContext> {
  // Fail, never skip: a UI left untested because chromium is missing must show up as a failure.
  if (!existsSync(CHROMIUM)) throw new Error(`the UI tests need Debian chromium at ${CHROMIUM}: apt-get install -y chromium (or run .ci/install-deps)`);
  const profile = mkdtempSync(join(tmpdir(), 'qbg-ui-'));
  // launchPersistentContext is playwright's way to pass a fresh --user-data-dir.
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  t.teardown(async () => {
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
  });
  return ctx;
}

async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(`${url}/ui`);
  await page.getByLabel('Role token').fill(token);
  await page.getByLabel('Role token').press('Enter'); // Enter submits
  await signedIn(page);
}

/** Signed in and the event stream open: what the page shows from here on is live. */
async function signedIn(page: Page): Promise<void> {
  await page.locator('#session').waitFor({ state: 'visible' });
  await page.locator('body[data-live="yes"]').waitFor({ state: 'attached' });
}

t.test('admin page in headless chromium against qbg + lab lldpad', async (t) => {
  const ctx = await launch(t);

  const lab = await startLab(t, { bridge: 'none', stationEvb: true });
  const st = lab.station('st1');
  for (const key of ['vdprka', 'vdprwd']) {
    const r = await lab.lldptool(st.netns, ['-T', '-i', st.uplink, '-g', 'ncb', '-V', 'evb', '-c', `${key}=${EXP}`]);
    t.equal(r.code, 0, `station ${key}=${EXP}`);
  }
  const sim = await startSim(lab, st.bridgePort, ['--rka', EXP, '--rwd', EXP]);
  t.teardown(() => sim.stop());
  await lab.waitForEvb('st1');
  const client = new Vdp22Client({ netns: st.netns, requestTimeoutMs: 8000 });
  t.teardown(() => client.close());
  // VDP may answer "not supported" for a moment after the EVB exchange: warm up with a VSI of no NIC.
  const warm: VsiRequest = { uplink: st.uplink, mode: 'assoc', managerId2: '0'.repeat(32), typeId: 9, typeIdVersion: 1,
    instanceUuid: randomUUID(), filterFormat: 'vlan-mac', filters: [{ vlan: 0, mac: '52:54:00:00:0f:01' }] };
  let o = await client.request(warm);
  for (let i = 0; i < 20 && o.kind !== 'accepted'; i++) {
    await new Promise((r) => setTimeout(r, 500));
    o = await client.request(warm);
  }
  t.equal(o.kind, 'accepted', 'VDP works on the lab uplink');
  await client.request({ ...warm, mode: 'deassoc' });

  const qbg = await startQbg({
    associator: client,
    uplink: { name: st.uplink, netns: st.netns },
    evb: { gpid: true, reflectiveRelay: true, vdpRka: Number(EXP), vdpRwd: Number(EXP) }, // what the lab station runs
  });
  t.teardown(() => qbg.close());
  /** Through POST /nics/associate as a hook would; answers the NIC's state as the API reports it. */
  const associate = async (body: Record<string, unknown>): Promise<string> => {
    const r = await fetch(`${qbg.url}/nics/associate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.admin}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const data = (await r.json()) as { nic?: { state: string }; details?: { nic?: { state: string } } };
    return (data.nic ?? data.details?.nic)?.state ?? `HTTP ${r.status}: ${JSON.stringify(data)}`;
  };
  const admin = await ctx.newPage();
  const errors: string[] = [];
  admin.on('pageerror', (e) => errors.push(e.message));

  await t.test('sign in as admin; the uplink shows its EVB state', async (t) => {
    await signIn(admin, qbg.url, TOKENS.admin);
    t.equal(await admin.locator('#role').textContent(), 'admin');
    const row = admin.locator(`#uplinks tr[data-uplink="${st.uplink}"]`);
    await row.waitFor();
    t.match(await row.textContent(), /station \/ station/, 'desired and actual role');
    t.equal(await row.locator('td').nth(2).textContent(), 'yes', 'desired config in sync with lldpad');
    t.equal(await row.locator('td').nth(3).textContent(), 'yes', 'peer EVB seen');
    t.match(await row.textContent(), /RR capable/, 'bridge capabilities shown');
  });

  await t.test('create a VSI type through the form; it is listed and stored', async (t) => {
    await admin.getByLabel('Name').fill('web');
    await admin.getByLabel('Type id (0–16777215)').fill('1193047');
    await admin.getByLabel('Version (0–255)').fill('2');
    await admin.getByLabel('Manager id (0–255)').fill('16');
    await admin.getByLabel('Allowed VLANs').fill('100-110, 200');
    await admin.getByLabel('Description').fill('web tier <b>not markup</b>');
    await admin.getByLabel('Description').press('Enter');
    const row = admin.locator('#types tr[data-type="web"]');
    await row.waitFor();
    t.match(await row.textContent(), /web1193047216vlan-mac100-110, 200web tier <b>not markup<\/b>/, 'row text, description as text');
    t.equal(await row.locator('b').count(), 0, 'user input never becomes markup');
    t.match(qbg.types.get('web'), { typeId: 1193047, typeIdVersion: 2, managerId: 16 }, 'stored by the type service');
    t.equal(await admin.locator('#types tr[data-type="web"] button', { hasText: 'Delete' }).count(), 1, 'admin sees delete');
  });

  await t.test('new version and delete through the page', async (t) => {
    await admin.getByRole('button', { name: 'New version of web' }).click();
    t.equal(await admin.getByLabel('Name').inputValue(), 'web', 'form prefilled with the type');
    await admin.getByLabel('Allowed VLANs').fill('100-120, 200');
    await admin.getByLabel('Allowed VLANs').press('Enter');
    await admin.locator('#types tr[data-type="web"]', { hasText: '100-120, 200' }).waitFor();
    t.equal(await admin.locator('#types tr[data-type="web"] td').nth(1).textContent(), '3', 'next free version shown');
    t.same(qbg.types.summary('web').versions, [2, 3], 'stored as a new version');

    qbg.types.create({ name: 'scratch', managerId: 1, typeId: 77, typeIdVersion: 1 });
    await admin.reload(); // signs in again from sessionStorage
    await signedIn(admin);
    admin.once('dialog', (d) => void d.accept());
    await admin.getByRole('button', { name: 'Delete scratch' }).click();
    await admin.locator('#types tr[data-type="scratch"]').waitFor({ state: 'detached' });
    t.equal(qbg.types.get('scratch'), undefined, 'deleted in the store');
  });

  const mac1 = '52:54:00:0a:00:01';
  const mac2 = '52:54:00:0a:00:02';

  await t.test('a NIC associates: its row changes state live, without reload', async (t) => {
    const id = nicId(VM, mac1);
    // Record every state the NIC's row is drawn with, from inside the page.
    await admin.evaluate((nic) => {
      const seen: string[] = ((window as unknown as { seen: string[] }).seen = []);
      new MutationObserver(() => {
        const s = document.querySelector(`[data-nic="${nic}"]`)?.getAttribute('data-state');
        if (s && seen[seen.length - 1] !== s) seen.push(s);
      }).observe(document.querySelector('#nics tbody')!, { childList: true, subtree: true });
    }, id);
    t.equal(await associate({ vmUuid: VM, mac: mac1, uplink: st.uplink, type: 'web', vlan: 100 }), 'associated', 'lldpad accepted');
    await admin.locator(`[data-nic="${id}"][data-state="associated"]`).waitFor();
    // the owner arrives with the reload that follows the first event (an event does not carry it)
    await admin.locator(`[data-nic="${id}"] td.owner`, { hasText: /^qbg$/ }).waitFor();
    t.same(await admin.evaluate(() => (window as unknown as { seen: string[] }).seen), ['associating', 'associated'], 'both states drawn');
    t.match(await admin.locator('#live').textContent(), /associating → associated/, 'announced in the aria-live region');
  });

  await t.test("a rejected NIC: the decoded reason is one click away in its history", async (t) => {
    const id = nicId(VM, mac2);
    await sim.send({ cmd: 'rule', uuid: stableInstanceId(VM, mac2), rule: { action: 'reject', reason: 2 } });
    t.equal(await associate({ vmUuid: VM, mac: mac2, uplink: st.uplink, type: 'web', vlan: 101 }), 'failed', 'the bridge refused');
    const row = admin.locator(`[data-nic="${id}"][data-state="failed"]`);
    await row.waitFor();
    t.match(await row.locator('.reason').textContent(), /INSUFFICIENT_RESOURCES|insufficient resources/i, 'reason on the row');
    // the reload that follows a new NIC's first event draws every row anew (the owner arrives with it): a button
    // focused before that is gone when Enter is pressed, so wait for the reload first
    await admin.locator(`[data-nic="${id}"][data-state="failed"] td.owner`, { hasText: /^qbg$/ }).waitFor();
    // keyboard: focus the row's History button and press Enter
    await row.getByRole('button', { name: /History/ }).focus();
    await admin.keyboard.press('Enter');
    const history = admin.locator('#history');
    await history.waitFor({ state: 'visible' });
    await history.locator('tbody tr').nth(1).waitFor();
    const text = await history.locator('tbody').textContent();
    t.match(text, /new → associating/);
    t.match(text, /associating → failed/);
    t.match(text, /insufficient resources/i, 'decoded reason in the history');
    await admin.screenshot({ path: SCREENSHOT, fullPage: true });
    t.ok(existsSync(SCREENSHOT), 'screenshot written');
  });

  await t.test('filter NICs by state', async (t) => {
    // the NIC filter form, not the fleet section's own filter (same labels)
    const filter = admin.getByRole('form', { name: 'Filter NICs' });
    await filter.getByLabel('State').selectOption('failed');
    await filter.getByRole('textbox', { name: 'VSI type', exact: true }).press('Enter'); // Enter in a text field submits the filter
    await admin.locator(`[data-nic="${nicId(VM, mac1)}"]`).waitFor({ state: 'detached' });
    t.equal(await admin.locator('#nics tbody tr[data-nic]').count(), 1, 'only the failed NIC');
    await filter.getByLabel('State').selectOption('');
    await filter.getByRole('button', { name: 'Filter' }).click();
    await admin.locator(`[data-nic="${nicId(VM, mac1)}"]`).waitFor();
    t.equal(await admin.locator('#nics tbody tr[data-nic]').count(), 2, 'both again');
  });

  await t.test('monitor: no create/delete controls, and the API refuses a write', async (t) => {
    const mon = await ctx.newPage(); // own tab, own sessionStorage
    mon.on('pageerror', (e) => errors.push(e.message));
    await signIn(mon, qbg.url, TOKENS.monitor);
    t.equal(await mon.locator('#role').textContent(), 'monitor');
    await mon.locator('#types tr[data-type="web"]').waitFor();
    t.equal(await mon.locator('#type-form').isVisible(), false, 'create form hidden');
    t.equal(await mon.getByRole('button', { name: /Delete|New version|Create/ }).count(), 0, 'no write buttons');
    const status = await mon.evaluate(async (token) => {
      const r = await fetch('/types', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'sneaky', typeId: 1, typeIdVersion: 1 }) });
      return { status: r.status, code: (await r.json()).code };
    }, TOKENS.monitor);
    t.same(status, { status: 403, code: 'QBG_ERR_FORBIDDEN' });
    t.equal(qbg.types.get('sneaky'), undefined, 'nothing created');
    // the monitor also sees the live NIC table
    await mon.locator(`[data-nic="${nicId(VM, mac1)}"]`).waitFor();
    await mon.close();
  });

  await t.test('banner: lldpad unreachable', async (t) => {
    await lab.killLldpad('st1');
    await admin.reload(); // signs in again from sessionStorage and reads /readyz
    const banner = admin.locator('#banner');
    await banner.waitFor({ state: 'visible', timeout: 15_000 });
    t.match(await banner.textContent(), /lldpad is unreachable/);
    t.equal(await banner.getAttribute('aria-live'), 'polite');
  });

  t.same(errors, [], 'no script errors in the page');
});
