// Configuring lldpad per uplink through qbg against a real lldpad pair, and drift repair: a setting changed by
// hand, an lldpad killed and restarted with an empty config, an lldpad that is gone. One lab for the whole file.
import t from 'tap';
import { once } from 'node:events';
import { truncateSync } from 'node:fs';
import { evbSettingsOf } from '../../src/domain/evb-config.js';
import { Lldptool } from '../../src/lldpad/lldptool.js';
import { MemoryUplinkConfigStore, UplinkManager } from '../../src/service/uplink-manager.js';
import { UplinkDriftWatcher, type DriftCheck } from '../../src/service/uplink-drift.js';
import { parseKeyValues } from '../../src/lldpad/evb-tlv-text.js';
import { buildServer } from '../../src/api/server.js';
import { uplinksRoutesFor } from '../../src/api/uplinks-routes.js';
import { main } from '../../src/cli/main.js';
import { startLab, type Lab } from './harness.js';
import { until } from '../helpers/until.js';

let lab: Lab;
let manager: UplinkManager;
let watcher: UplinkDriftWatcher;
const events: Array<[string, unknown]> = [];

/** lldpad's own answer, read with lldptool directly (not through the code under test). */
async function lldpadEvb(): Promise<Record<string, string>> {
  const r = await lab.lldptool('st1', ['-t', '-i', 's0', '-g', 'ncb', '-V', 'evb', '-c']);
  const a = await lab.lldptool('st1', ['-l', '-i', 's0', '-g', 'ncb', 'adminStatus']);
  return { ...parseKeyValues(r.stdout), ...parseKeyValues(a.stdout) };
}

t.before(async () => {
  lab = await startLab(t, {}); // station lldpad starts unconfigured: EVB off, LLDP disabled
  manager = new UplinkManager({ store: new MemoryUplinkConfigStore() });
  watcher = new UplinkDriftWatcher({ manager, intervalMs: 0 });
  for (const ev of ['lldpad-restarted', 'lldpad-unreachable', 'drift', 'repaired'])
    watcher.on(ev, (e: unknown) => events.push([ev, e]));
});

t.test('configure an unconfigured station: only what differs is set, and it reads back', async (t) => {
  const before = await lldpadEvb();
  t.match(before, { adminstatus: 'disabled', enabletx: 'no' }, 'fresh lldpad: LLDP and EVB off');

  const desired = await manager.put('s0', { netns: lab.station().netns, gpid: true, reflectiveRelay: true, ecpRte: 9, vdpRka: 21 });
  const st0 = await manager.status('s0');
  t.equal(st0.inSync, false);
  t.same(
    st0.diff.map((d) => [d.field, d.actual, d.desired]),
    [
      ['adminStatus', 'disabled', 'rxtx'],
      ['evbTx', false, true],
      ['gpid', false, true],
      ['reflectiveRelay', false, true],
      ['ecpRetries', 3, 7], // qbg's default, not lldpad's: ECP must survive a busy host (EVB_DEFAULTS)
      ['ecpRte', 8, 9],
      ['vdpRka', 20, 21],
    ],
  );
  t.equal(st0.peerEvbSeen, false, 'no EVB exchange while EVB tx is off');

  const rep = await manager.apply('s0');
  t.same(rep.changed, st0.diff, 'apply set exactly the differing settings');
  t.same(rep.remaining, []);
  t.equal(rep.status.inSync, true);
  t.same(rep.status.actual, evbSettingsOf(desired), 'actual equals desired, setting by setting');
  t.match(await lldpadEvb(), {
    adminstatus: 'rxtx',
    enabletx: 'yes',
    evbmode: 'station',
    evbgpid: 'yes',
    evbrrreq: 'yes',
    ecpretries: '7',
    ecprte: '9',
    vdprka: '21',
    vdprwd: '20',
  });

  const again = await manager.apply('s0');
  t.same(again.changed, [], 'second apply changes nothing');
});

t.test('after the EVB exchange qbg reports what the bridge advertised and what was negotiated', async (t) => {
  const x = await lab.waitForEvb('st1');
  t.comment(`EVB exchange complete ${x.waitedMs} ms after the apply`);
  // The exchange settles in steps: the bridge grants reflective relay (RRCTR) only after it has heard our RRREQ,
  // and our RRSTAT follows one LLDPDU later. Poll (bounded) for the settled state.
  let st = await manager.status('s0');
  for (const started = Date.now(); st.negotiated?.reflectiveRelayStatus !== 'yes' && Date.now() - started < 10_000; ) {
    await new Promise((r) => setTimeout(r, 100));
    st = await manager.status('s0');
  }
  t.equal(st.peerEvbSeen, true);
  // The lab bridge template: evbrrcap + evbgpid, lldpad's default timers; it grants our RR request and takes the
  // larger retries/RTE/RKA (ours: 7, 9, 21).
  t.match(st.bridge, { groupId: true, reflectiveRelayCapable: true, reflectiveRelayOn: true, ecpRetries: 7 });
  t.match(st.negotiated, { ecpRte: 9, vdpRka: 21, vdpRwd: 20, ecpRetries: 7, reflectiveRelayStatus: 'yes' });
  t.same(st.negotiated && [st.negotiated.ecpRte, st.negotiated.vdpRka], [x.local.rte, x.local.rka], 'same as lldptool shows');
});

t.test('a setting changed by hand with lldptool is detected and repaired', async (t) => {
  await lab.lldptool('st1', ['-T', '-i', 's0', '-g', 'ncb', '-V', 'evb', '-c', 'vdprka=11', '-c', 'evbrrreq=no']);
  await lab.lldptool('st1', ['-L', '-i', 's0', '-g', 'ncb', 'adminStatus=rx']);
  events.length = 0;
  const [c] = await watcher.checkNow();
  t.equal(c.restarted, false);
  t.same(
    c.drift.map((d) => [d.field, d.actual, d.desired]),
    [
      ['adminStatus', 'rx', 'rxtx'],
      ['reflectiveRelay', false, true],
      ['vdpRka', 11, 21],
    ],
  );
  t.equal(c.repaired, true);
  t.equal(c.inSync, true);
  t.match(await lldpadEvb(), { adminstatus: 'rxtx', evbrrreq: 'yes', vdprka: '21' }, 'lldpad holds the desired values again');
  t.same(
    events.map((e) => e[0]),
    ['drift', 'repaired'],
  );
  const [again] = await watcher.checkNow();
  t.same([again.drift, again.repaired, again.inSync], [[], false, true], 'next check: nothing to do');
});

t.test('lldpad killed -9 and restarted with an empty config: qbg notices the new pid and converges', async (t) => {
  const oldPid = (await manager.status('s0')).lldpadPid;
  await lab.killLldpad('st1', 'KILL');
  truncateSync(`${lab.stateDir}/st1.conf`, 0);
  await lab.startLldpad('st1');
  const newPid = lab.station().lldpadPid;
  t.not(newPid, oldPid);
  t.match(await lldpadEvb(), { adminstatus: 'disabled', enabletx: 'no', ecprte: '8' }, 'the new lldpad forgot everything');

  events.length = 0;
  const [c] = await watcher.checkNow();
  t.equal(c.restarted, true);
  t.equal(c.lldpadPid, newPid);
  t.same(events[0], ['lldpad-restarted', { uplink: 's0', netns: lab.station().netns, fromPid: oldPid, toPid: newPid }]);
  t.same(
    c.drift.map((d) => d.field),
    ['adminStatus', 'evbTx', 'gpid', 'reflectiveRelay', 'ecpRetries', 'ecpRte', 'vdpRka'],
  );
  t.equal(c.repaired, true);
  t.equal(c.inSync, true);
  const x = await lab.waitForEvb('st1');
  t.comment(`EVB exchange complete again ${x.waitedMs} ms after the repair`);
  t.equal((await manager.status('s0')).peerEvbSeen, true);
});

t.test('lldpad gone: the check reports it unreachable; when it returns, it is a restart', async (t) => {
  const oldPid = (await manager.status('s0')).lldpadPid;
  await lab.killLldpad('st1', 'TERM');
  events.length = 0;
  const [c] = await watcher.checkNow();
  t.equal(c.lldpadPid, null);
  t.equal(c.inSync, false);
  t.equal(c.error?.code, 'QBG_ERR_LLDPAD_UNREACHABLE');
  t.equal(events[0]?.[0], 'lldpad-unreachable');
  const st = await manager.status('s0');
  t.equal(st.actual, null);
  t.equal(st.error?.code, 'QBG_ERR_LLDPAD_UNREACHABLE');
  await t.rejects(manager.apply('s0'), { code: 'QBG_ERR_LLDPAD_UNREACHABLE' }, 'apply throws when lldpad is gone');

  // lldpad saved our settings in its config file (kept this time), so it comes back in sync
  await lab.startLldpad('st1');
  const [back] = await watcher.checkNow();
  t.equal(back.restarted, true);
  t.not(back.lldpadPid, oldPid);
  t.same(back.drift, [], 'settings survived in the config file');
  t.equal(back.inSync, true);
});

t.test('the periodic check repairs without being asked', async (t) => {
  const periodic = new UplinkDriftWatcher({ manager, intervalMs: 100 });
  t.teardown(() => periodic.stop());
  await new Lldptool({ netns: lab.station().netns }).setEvbConfig('s0', [['ecpretries', '5']]);
  periodic.start();
  // The watcher's timer is unref'd (it must not keep a server alive); this bounded wait keeps the test alive.
  let guard: NodeJS.Timeout | undefined;
  const [ev] = (await Promise.race([
    once(periodic, 'repaired'),
    new Promise((_, rej) => (guard = setTimeout(() => rej(new Error('no repair within 15 s')), 15_000))),
  ]).finally(() => clearTimeout(guard))) as [{ uplink: string; changed: DriftCheck['drift'] }];
  t.same(ev.changed.map((c) => [c.field, c.actual, c.desired]), [['ecpRetries', 5, 7]]);
  t.match(await lldpadEvb(), { ecpretries: '7' });
});

t.test('over HTTP and the qbg CLI: bad input is a 400 naming the field, set + apply + status', async (t) => {
  const app = await buildServer({ logLevel: 'silent', routes: [uplinksRoutesFor(manager)] });
  t.teardown(() => app.close());
  const baseUrl = await app.listen({ host: '127.0.0.1', port: 0 });

  const bad = await app.inject({ method: 'PUT', url: '/uplinks/s0', payload: { netns: lab.station().netns, ecpRte: 40 } });
  t.equal(bad.statusCode, 400);
  t.match(bad.json(), { code: 'QBG_ERR_FIELD_TYPE', field: 'ecpRte', error: /0–31/ });
  const unknown = await app.inject({ method: 'PUT', url: '/uplinks/s0', payload: { ecpRtee: 4 } });
  t.match([unknown.statusCode, unknown.json()], [400, { field: 'ecpRtee' }]);
  t.equal((await manager.desired('s0')).ecpRte, 9, 'nothing stored by the bad PUTs');

  const out: string[] = [];
  const err: string[] = [];
  const cli = (argv: string[]) => main([...argv, '--url', baseUrl], { out: (s) => out.push(s), err: (s) => err.push(s) });
  const words = ['gpid=true', 'reflectiveRelay=true', 'ecpRte=10', 'vdpRka=21'];
  t.equal(await cli(['uplink', 'set', 's0', '--netns', lab.station().netns, ...words]), 0, err.join('\n'));
  out.length = 0;
  t.equal(await cli(['uplink', 'apply', 's0', '--json']), 0, err.join('\n'));
  const applied = JSON.parse(out.join('')) as { changed: Array<{ field: string; actual: unknown; desired: unknown }> };
  t.same(applied.changed, [{ field: 'ecpRte', actual: 9, desired: 10 }]);
  t.match(await lldpadEvb(), { ecprte: '10' });

  // lldpad takes the changed EVB settings as a new exchange: until the bridge's next EVB TLV it reports none received
  // (a status read right after the apply may say so, truthfully)
  const uplinks = await until('the bridge EVB TLV after the apply', async () => {
    out.length = 0;
    if ((await cli(['uplink', 'status', '--json'])) !== 0) throw new Error(`qbg uplink status failed: ${err.join('\n')}`);
    const u = (JSON.parse(out.join('')) as { uplinks: Array<{ uplink: string; inSync: boolean; peerEvbSeen: boolean }> }).uplinks;
    return u[0]?.peerEvbSeen ? u : undefined;
  }, 40_000);
  t.match(uplinks, [{ uplink: 's0', inSync: true, peerEvbSeen: true }]);
  out.length = 0;
  t.equal(await cli(['uplink', 'status', 's0']), 0);
  t.match(out.join('\n'), /in sync[\s\S]*bridge EVB TLV received[\s\S]*bridge advertises: group id yes, reflective relay capable yes/);
  err.length = 0;
  t.equal(await cli(['uplink', 'set', 's0', 'vdpRwd=99']), 1);
  t.match(err.join(''), /vdpRwd/);
  t.equal(await cli(['uplink', 'apply']), 2, 'usage error without NAME');
});

t.test('validation failures store nothing; unknown uplinks are 404s', async (t) => {
  await t.rejects(manager.put('eth9', { ecpRte: 32 }), { code: 'QBG_ERR_INTEGER_RANGE', field: 'ecpRte' });
  await t.rejects(manager.status('eth9'), { code: 'QBG_ERR_UPLINK_NOT_FOUND' });
  t.same((await manager.listDesired()).map((c) => c.uplink), ['s0']);
  // a namespace that does not exist is "lldpad unreachable", not a crash
  await manager.put('eth9', { netns: 'qbg-nonexistent-ns' });
  const st = await manager.status('eth9');
  t.equal(st.error?.code, 'QBG_ERR_LLDPAD_UNREACHABLE');
  await manager.delete('eth9');
  await t.rejects(manager.delete('eth9'), { code: 'QBG_ERR_UPLINK_NOT_FOUND' });
});
