// The background WAL flush (src/store/wal-sync.ts): commits lead to fdatasyncs of the WAL on the thread pool, bursts
// share one, nothing is done for an in-memory database or after close, and no descriptor outlives the store.
import t, { type Test } from 'tap';
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/db.js';
import { NicRepo } from '../../src/store/nic-repo.js';
import { WalSync } from '../../src/store/wal-sync.js';
import { nicId } from '../../src/domain/nic.js';
import { until } from '../helpers/until.js';

function tmp(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'qbg-wal-sync-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'qbg.db');
}

/** Paths this process holds open. */
const openPaths = (): string[] =>
  readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      return [readlinkSync(`/proc/self/fd/${fd}`)];
    } catch {
      return [];
    }
  });

const params = (i: number) => {
  const vmUuid = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
  const mac = `52:54:00:00:00:${(i % 256).toString(16).padStart(2, '0')}`;
  return { vmUuid, mac, uplink: 'eth0', typeName: 'web', typeId: 1, typeIdVersion: 1, managerId2: '0'.repeat(32), filterFormat: 'vlan-mac' as const, vlan: 10, instanceUuid: `6f1c0e7a-1b9e-4c1e-9a53-${String(i).padStart(12, '0')}` };
};

t.test("each NIC transaction ends in a flush of the database's WAL; a burst shares one; close lets go of the file", async (t) => {
  const path = tmp(t);
  const db = openDatabase(path);
  const sync = new WalSync(path, { delayMs: 50 });
  const repo = new NicRepo(db, { committed: () => sync.committed() });
  const p = params(1);
  repo.applyEvent(nicId(p.vmUuid, p.mac), { event: 'request-assoc', cause: 'api', params: p, desiredMode: 'assoc' });
  await until('the first flush', async () => sync.flushes >= 1, 10_000, 10);
  const walFds = (): number => openPaths().filter((x) => x === `${path}-wal`).length;
  const sqliteOwn = 1; // SQLite's own descriptor of the WAL
  t.equal(walFds(), sqliteOwn + 1, "the WAL is held open for flushing, beside SQLite's own descriptor");
  const before = sync.flushes;
  for (let i = 2; i < 50; i++) {
    const q = params(i);
    repo.applyEvent(nicId(q.vmUuid, q.mac), { event: 'request-assoc', cause: 'api', params: q, desiredMode: 'assoc' });
  }
  await until('the burst flushed', async () => sync.flushes > before, 10_000, 10);
  // 48 commits in one turn of the event loop: one flush (another only if a commit came while it ran)
  t.ok(sync.flushes - before <= 2, `48 commits in one go took ${sync.flushes - before} flushes`);
  await sync.close();
  t.equal(walFds(), sqliteOwn, "only SQLite's own descriptor of the WAL after close");
  const after = sync.flushes;
  repo.applyEvent(nicId(p.vmUuid, p.mac), { event: 'answer-accepted', cause: 'lldpad-answer' });
  await new Promise((r) => setTimeout(r, 120));
  t.equal(sync.flushes, after, 'nothing after close');
  t.equal(repo.get(nicId(p.vmUuid, p.mac))?.state, 'associated', 'the store goes on as before');
  db.close();
});

t.test('an in-memory database has no WAL: nothing to flush, no error', async (t) => {
  const db = openDatabase(':memory:');
  const sync = new WalSync(':memory:', { delayMs: 1 });
  const repo = new NicRepo(db, { committed: () => sync.committed() });
  const p = params(7);
  repo.applyEvent(nicId(p.vmUuid, p.mac), { event: 'request-assoc', cause: 'api', params: p, desiredMode: 'assoc' });
  await new Promise((r) => setTimeout(r, 30));
  t.equal(sync.flushes, 0);
  await sync.close();
  db.close();
});
