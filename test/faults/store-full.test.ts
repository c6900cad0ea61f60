// Fault 5: the disk under qbg's SQLite database fills up (a tiny tmpfs filled with a ballast file). A write must
// fail with a clear catalogue error naming the cause (503 QBG_ERR_STORE_READONLY), reads keep working, nothing is
// half written (PRAGMA integrity_check = ok, every write either fully there or not at all), and qbg takes writes
// again as soon as space returns — without a restart.
// No lldpad needed: every write path (a new VSI type, a NIC's "associating" row) hits the store before lldpad.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startQbg } from '../helpers/qbg-process.js';
import { call, nicBody } from './helpers.js';

function fill(path: string): number {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  let written = 0;
  try {
    for (;;) written += writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
  return written;
}

const type = (i: number) => ({ name: `full-${i}`, managerId: 1, typeId: 5000 + i, typeIdVersion: 1, allowedVlans: [100] });

t.test('disk full under the database: 503 naming the cause, no corruption, writes resume when space returns', async (t) => {
  if (process.getuid?.() !== 0) throw new Error('this fault test mounts a tmpfs: run it as root (e.g. in the dev container)');
  const dir = mkdtempSync(join(tmpdir(), 'qbg-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'qbg-fault-full', dir]);
  let mounted = true;
  const unmount = () => {
    if (!mounted) return;
    mounted = false;
    try {
      execFileSync('umount', ['-l', dir]);
      rmSync(dir, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  };
  process.once('exit', unmount);
  const dbPath = join(dir, 'qbg.db');
  const qbg = await startQbg({ config: { dbPath, lldpad: { transport: 'vdp22' }, reconcile: { intervalSeconds: 3600, concurrency: 1 } } });
  // registered after the mount's: tap runs teardowns in order, so qbg is gone before the tmpfs is unmounted
  t.teardown(async () => {
    await qbg.kill();
    unmount();
  });
  const api = (m: string, p: string, b?: unknown) => call(qbg.url, m, p, b);

  t.equal((await api('POST', '/types', { ...type(0), name: 'fault-tier' })).status, 201, 'writes work while there is space');
  const ballast = join(dir, 'ballast');
  const filled = fill(ballast);
  t.comment(`ballast of ${(filled / 1024).toFixed(0)} KiB fills the tmpfs`);

  // SQLite may still have room inside its WAL file for a few pages: write until the disk says no.
  const answers: Array<{ i: number; status: number; code?: string; message?: string }> = [];
  for (let i = 1; i <= 200; i++) {
    const r = await api('POST', '/types', type(i));
    answers.push({ i, status: r.status, code: r.body?.code, message: r.body?.error });
    if (r.status !== 201) break;
  }
  const refused = answers.at(-1)!;
  t.comment(`${answers.length - 1} writes still fit; then: ${JSON.stringify(refused)}`);
  t.equal(refused.status, 503, 'a write on a full disk is 503 (retry later), not 500');
  t.equal(refused.code, 'QBG_ERR_STORE_READONLY', 'with the store catalogue code');
  t.match(refused.message, /full/i, 'and the message names the cause (disk full)');

  const nic = await api('POST', '/nics/associate', nicBody(1));
  t.equal(nic.status, 503, `an association on a full disk is refused before lldpad is asked: ${JSON.stringify(nic.body)}`);
  t.equal(nic.body?.code, 'QBG_ERR_STORE_READONLY');
  t.equal((await api('GET', '/types')).status, 200, 'reads keep working on a full disk');
  t.equal((await api('GET', '/healthz')).status, 200, 'qbg is alive');

  rmSync(ballast);
  const again = await api('POST', '/types', type(refused.i));
  t.equal(again.status, 201, `space back: the refused write succeeds without a restart (${JSON.stringify(again.body)})`);
  const assoc = await api('POST', '/nics/associate', nicBody(1));
  t.not(assoc.status, 503, `space back: an association reaches lldpad again (answered ${assoc.status} ${assoc.body?.code ?? ''})`);

  const listed = await api('GET', '/types');
  const names = new Set(listed.body.types.map((x: { name: string }) => x.name));
  const expected = ['fault-tier', ...answers.map((a) => `full-${a.i}`)];
  t.same(expected.filter((n) => !names.has(n)), [], 'every write that was answered 201 (and the refused one, retried) is there');

  await qbg.stop();
  t.equal(execFileSync('sqlite3', [dbPath, 'PRAGMA integrity_check']).toString().trim(), 'ok', 'sqlite3 PRAGMA integrity_check = ok');
});
