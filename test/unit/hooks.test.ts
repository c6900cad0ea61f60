// The libvirt qemu and vdsm hooks, run as real processes (the scripts `qbg hook install` writes) with real domain
// XML, against a running qbg on 127.0.0.1:0: real NIC API, NIC service, SQLite store and VSI types. lldpad is
// the one thing not here: a scripted VsiAssociator stands in for the transport (test/lab/hooks.test.ts runs the
// same hooks against a real lldpad).
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { buildServer } from '../../src/api/server.js';
import { nicsRoutes } from '../../src/api/nics-routes.js';
import { typesRoutes } from '../../src/api/types-routes.js';
import { healthRoutes } from '../../src/api/health-routes.js';
import { openDatabase } from '../../src/store/db.js';
import { NicRepo } from '../../src/store/nic-repo.js';
import { TypeService } from '../../src/vtdb/type-service.js';
import { NicService } from '../../src/service/nic-service.js';
import { MigrationService } from '../../src/service/migration.js';
import { hookCommand } from '../../src/cli/hook.js';
import { HOOK_MARKER } from '../../src/hooks/install.js';
import { forOwnership, libvirtStep, vdsmStep, VDSM_HOOKS } from '../../src/hooks/plan.js';
import { stableInstanceId } from '../../src/domain/instance-uuid.js';
import { readHookDomain } from '../../src/hooks/domain-nics.js';
import { runHook } from '../../src/hooks/run-hook.js';
import { createServer, type Socket } from 'node:net';
import type { CliIo } from '../../src/cli/io.js';
import { ScriptedLldpad } from '../helpers/scripted-lldpad.js';

const FIX = new URL('../fixtures/hooks/', import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, FIX), 'utf8');
/** One NIC with an interface-level virtualport, one named only in qbg's metadata: refused under either owner. */
const MIXED = fixture('domain-two-nics.xml');
/** The same NICs for a host where qbg owns the VSIs: both named in the metadata, no virtualport. */
const TWO = fixture('domain-two-nics-qbg.xml');
/** For a host where libvirt owns them: both carry the full virtualport. */
const LIBVIRT_OWNED = fixture('domain-libvirt-owned.xml');
const VM1 = '6f0c1a52-93b4-4f0e-8d3e-2b7c4a1e9d01';
const VM2 = '6f0c1a52-93b4-4f0e-8d3e-2b7c4a1e9d02';
const VM3 = '6f0c1a52-93b4-4f0e-8d3e-2b7c4a1e9d03';

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run an installed hook script the way libvirt / vdsm do: argv, stdin, a near-empty environment. */
function runScript(path: string, argv: string[], opts: { stdin?: string; env?: Record<string, string> } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(path, argv, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => {}); // a hook that exits early must not break the test
    child.stdin.end(opts.stdin ?? '');
  });
}

function cliIo(): CliIo & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    out: (s) => lines.push(s),
    err: (s) => lines.push(s),
    json: true,
    baseUrl: 'http://127.0.0.1:1',
    fetch,
    readStdin: async () => '',
  };
}

t.test('hook plans: which libvirt / vdsm call does what', async (t) => {
  t.match(libvirtStep('prepare', 'begin'), { action: 'associate', mayFail: true, keepPreassociated: true });
  t.match(libvirtStep('migrate', 'begin'), { action: 'migration-prepare', mayFail: true });
  t.match(libvirtStep('stopped', 'end'), { action: 'disassociate', mayFail: false });
  t.match(libvirtStep('release', 'end'), { action: 'disassociate', mayFail: false });
  t.match(libvirtStep('reconnect', 'begin'), { action: 'associate', mayFail: false });
  for (const [op, sub] of [['start', 'begin'], ['prepare', 'end'], ['stopped', 'begin']]) t.equal(libvirtStep(op, sub).action, 'none', `${op} ${sub}`);
  t.same(
    VDSM_HOOKS.map((h) => vdsmStep(h).action),
    ['associate', 'disassociate', 'none', 'migration-stop', 'migration-prepare', 'migration-start'],
  );
  // per ownership: qbg as planned minus the observations; libvirt never a request
  const ops = [['prepare', 'begin'], ['migrate', 'begin'], ['restore', 'begin'], ['started', 'begin'], ['reconnect', 'begin'], ['stopped', 'end'], ['release', 'end']];
  t.same(
    ops.map(([op, sub]) => forOwnership(libvirtStep(op, sub), 'qbg').action),
    ['associate', 'migration-prepare', 'associate', 'none', 'associate', 'disassociate', 'disassociate'],
  );
  t.same(
    ops.map(([op, sub]) => forOwnership(libvirtStep(op, sub), 'libvirt').action),
    ['require-virtualport', 'require-virtualport', 'require-virtualport', 'observe-held', 'observe-held', 'none', 'observe-gone'],
    'libvirt de-associates between stopped end and release end: qbg looks at release end',
  );
  t.same(
    VDSM_HOOKS.map((h) => forOwnership(vdsmStep(h), 'libvirt').action),
    ['require-virtualport', 'observe-gone', 'none', 'observe-gone', 'require-virtualport', 'observe-held'],
  );
  const d = readHookDomain(MIXED);
  t.equal(d.vmUuid, VM1);
  t.equal(d.name, 'web1');
  t.same(d.nics, [
    { mac: '52:54:00:aa:00:01', interfaceType: 'direct', uplink: 'eth0', vlan: 100, virtualport: { managerId: 16, typeId: 1193047, typeIdVersion: 2, instanceId: '0b3c9f4e-1d2a-4c5b-9e8f-7a6b5c4d3e2f' } },
    { mac: '52:54:00:aa:00:02', interfaceType: 'direct', uplink: 'eth1', vlan: 200, profile: 'db' },
  ]);
  t.same(readHookDomain(fixture('domain-no-qbg.xml')).nics, []);
});

t.test('installed hooks run as processes against a running qbg', async (t) => {
  // --- a running qbg ---
  const db = openDatabase(':memory:');
  const types = new TypeService(db);
  types.create({ name: 'web', managerId: 16, typeId: 1193047, typeIdVersion: 2, allowedVlans: ['100-110'] });
  types.create({ name: 'db', managerId: 16, typeId: 7, typeIdVersion: 1, allowedVlans: ['200'] });
  const lldpad = new ScriptedLldpad();
  const repo = new NicRepo(db);
  const nics = new NicService({ repo, associator: lldpad, types });
  const tokens = { admin: ['adm-token'], hook: ['hook-token'], monitor: [] };
  // qbg's config `ownership`, as /healthz tells the hook (read per request: a subtest switches it)
  const health: Parameters<typeof healthRoutes>[0] = { storeOk: () => true, lldpadPing: () => lldpad.ping(), uplinks: () => [], evbUp: async () => true, ownership: 'qbg' };
  const app = await buildServer({
    logLevel: 'silent',
    tokens,
    routes: [
      healthRoutes(health),
      nicsRoutes({ nics, migration: new MigrationService(nics) }),
      typesRoutes({ types }),
    ],
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  // --- qbg hook install ---
  const dir = mkdtempSync(join(tmpdir(), 'qbg-hooks-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const libvirtDir = join(dir, 'libvirt', 'hooks');
  const vdsmDir = join(dir, 'vdsm', 'hooks');
  const configPath = join(dir, 'etc', 'hook.json');
  writeFileSync(join(dir, 'token'), 'hook-token\n');
  mkdirSync(libvirtDir, { recursive: true });
  writeFileSync(join(libvirtDir, 'qemu'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  const io = cliIo();
  await t.rejects(
    hookCommand(['install', '--libvirt', '--dir', libvirtDir, '--config', configPath, '--url', url], io),
    { code: 'QBG_ERR_CONFIG', message: /qemu.*not written by qbg.*--drop-in.*--force/ },
    'a foreign qemu hook is not overwritten',
  );
  rmSync(join(libvirtDir, 'qemu'));
  const args = ['install', '--libvirt', '--vdsm', '--dir', libvirtDir, '--vdsm-dir', vdsmDir, '--config', configPath, '--url', url, '--token-file', join(dir, 'token'), '--timeout-ms', '5000'];
  t.equal(await hookCommand(args, io), 0);
  const report = JSON.parse(io.lines.at(-1)!);
  t.equal(report.scripts.length, 1 + VDSM_HOOKS.length);
  const qemu = join(libvirtDir, 'qemu');
  t.ok(statSync(qemu).mode & 0o100, 'qemu hook is executable');
  t.match(readFileSync(qemu, 'utf8'), HOOK_MARKER);
  for (const h of VDSM_HOOKS) t.ok(existsSync(join(vdsmDir, h, '50_qbg')), `vdsm ${h}`);
  t.equal(statSync(configPath).mode & 0o777, 0o600, 'hook config is private (may carry a token)');
  t.same(JSON.parse(readFileSync(configPath, 'utf8')), { url, tokenFile: join(dir, 'token'), requestTimeoutMs: 5000 });
  t.equal(await hookCommand(args, cliIo()), 0, 'installing again replaces our own scripts');

  const nicOf = (vm: string, mac: string) => repo.get(`${vm}_${mac}`);

  await t.test('libvirt: prepare associates, stopped disassociates', async (t) => {
    const r = await runScript(qemu, ['web1', 'prepare', 'begin', '-'], { stdin: TWO });
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, '', 'nothing on stdout (libvirt reads it for migrate)');
    const a = nicOf(VM1, '52:54:00:aa:00:01')!;
    t.match(a, { owner: 'qbg', state: 'associated', typeName: 'web', typeIdVersion: 2, uplink: 'eth0', vlan: 100, instanceUuid: stableInstanceId(VM1, '52:54:00:aa:00:01') }, 'metadata NIC: the instance id derived from VM + MAC');
    t.match(nicOf(VM1, '52:54:00:aa:00:02'), { state: 'associated', typeName: 'db', uplink: 'eth1', vlan: 200 }, 'metadata NIC');
    t.equal(nicOf(VM1, '52:54:00:aa:00:03'), undefined, 'a NIC without qbg parameters is left alone');
    t.match(r.stderr, /52:54:00:aa:00:01: associated on eth0 \(VSI type web v2\)/);

    const nothing = await runScript(qemu, ['web1', 'started', 'begin', '-'], { stdin: TWO });
    t.equal(nothing.code, 0);
    t.equal(nothing.stderr, '', 'operations without a qbg step are silent');

    const s = await runScript(qemu, ['web1', 'stopped', 'end', '-'], { stdin: TWO });
    t.equal(s.code, 0, s.stderr);
    t.equal(nicOf(VM1, '52:54:00:aa:00:01')!.state, 'disassociated');
    t.equal(nicOf(VM1, '52:54:00:aa:00:02')!.state, 'disassociated');
    const rel = await runScript(qemu, ['web1', 'release', 'end', '-'], { stdin: TWO });
    t.equal(rel.code, 0, 'release after stopped is harmless (idempotent)');
  });

  await t.test('ownership qbg: a NIC libvirt would announce itself (interface virtualport) fails the start, nothing is sent', async (t) => {
    const before = lldpad.requests.length;
    const r = await runScript(qemu, ['web1', 'prepare', 'begin', '-'], { stdin: MIXED });
    t.equal(r.code, 1);
    t.match(r.stderr, /NIC 52:54:00:aa:00:01: its <interface> carries an 802\.1Qbg <virtualport>, so libvirt announces the VSI itself over netlink; on this host qbg owns the VSIs/);
    t.notMatch(r.stderr, /52:54:00:aa:00:02/, 'the metadata NIC is not the problem');
    const m = await runScript(qemu, ['web1', 'migrate', 'begin', '-'], { stdin: MIXED });
    t.equal(m.code, 1, 'an incoming migration too');
    const rc = await runScript(qemu, ['web1', 'reconnect', 'begin', '-'], { stdin: MIXED });
    t.equal(rc.code, 0, 'a reconnect cannot fail…');
    t.match(rc.stderr, /52:54:00:aa:00:01.*\(left to libvirt\)/, '…it leaves that NIC to libvirt');
    t.same(lldpad.requests.slice(before).map((q) => q.instanceUuid), [stableInstanceId(VM1, '52:54:00:aa:00:02')], 'only the metadata NIC was asked for, by the reconnect');
    await runScript(qemu, ['web1', 'release', 'end', '-'], { stdin: TWO });
  });

  await t.test('ownership libvirt: no request ever; qbg records what lldpad holds after libvirt\'s steps', async (t) => {
    health.ownership = 'libvirt';
    t.teardown(() => void (health.ownership = 'qbg'));
    const before = lldpad.requests.length;
    const refused = await runScript(qemu, ['web1', 'prepare', 'begin', '-'], { stdin: MIXED });
    t.equal(refused.code, 1);
    t.match(refused.stderr, /NIC 52:54:00:aa:00:02: its <interface> has no 802\.1Qbg <virtualport>; on this host libvirt owns the VSIs/);

    let r = await runScript(qemu, ['web3', 'prepare', 'begin', '-'], { stdin: LIBVIRT_OWNED });
    t.equal(r.code, 0, r.stderr);
    t.match(r.stderr, /52:54:00:aa:00:01: libvirt announces its VSI/);
    t.equal(nicOf(VM3, '52:54:00:aa:00:01'), undefined, 'nothing recorded before libvirt acts');
    // libvirt associates over netlink between prepare and started: lldpad holds both VSIs
    for (const [uuid, typeId, typeIdVersion, mac, vlan] of [['0b3c9f4e-1d2a-4c5b-9e8f-7a6b5c4d3e31', 1193047, 2, '52:54:00:aa:00:01', 100], ['0b3c9f4e-1d2a-4c5b-9e8f-7a6b5c4d3e30', 7, 1, '52:54:00:aa:00:02', 200]] as const) {
      lldpad.held.set(uuid, { instanceUuid: uuid, mode: 'assoc', typeId, typeIdVersion, managerId2: '', filters: [{ vlan, mac }] });
    }
    r = await runScript(qemu, ['web3', 'started', 'begin', '-'], { stdin: LIBVIRT_OWNED });
    t.equal(r.code, 0, r.stderr);
    t.match(nicOf(VM3, '52:54:00:aa:00:01'), { owner: 'libvirt', state: 'associated', typeName: 'web', instanceUuid: '0b3c9f4e-1d2a-4c5b-9e8f-7a6b5c4d3e31' });
    t.match(nicOf(VM3, '52:54:00:aa:00:02'), { owner: 'libvirt', state: 'associated', typeName: 'db', instanceUuid: '0b3c9f4e-1d2a-4c5b-9e8f-7a6b5c4d3e30' });
    r = await runScript(qemu, ['web3', 'stopped', 'end', '-'], { stdin: LIBVIRT_OWNED });
    t.equal(r.code, 0);
    t.equal(nicOf(VM3, '52:54:00:aa:00:01')!.state, 'associated', 'stopped end: libvirt has not de-associated yet, qbg does nothing');
    lldpad.held.clear(); // libvirt's DISASSOCIATE
    r = await runScript(qemu, ['web3', 'release', 'end', '-'], { stdin: LIBVIRT_OWNED });
    t.equal(r.code, 0, r.stderr);
    t.equal(nicOf(VM3, '52:54:00:aa:00:01')!.state, 'disassociated');
    t.equal(nicOf(VM3, '52:54:00:aa:00:02')!.state, 'disassociated');

    // A NIC attached while the VM ran (libvirt runs no hook at an attach) is unknown to qbg at the stop: recorded
    // disassociated, not failed. A start that failed never reached `started`, so no other NIC of the VM is held:
    // there an unknown NIC is libvirt's failed association.
    const attachedNic = (mac: string, instance: string) =>
      `    <interface type='direct'>\n      <mac address='${mac}'/>\n      <source dev='eth0' mode='vepa'/>\n      <vlan><tag id='100'/></vlan>\n      <virtualport type='802.1Qbg'>\n        <parameters managerid='16' typeid='1193047' typeidversion='2' instanceid='${instance}'/>\n      </virtualport>\n    </interface>\n    <!-- not qbg's: left alone -->`;
    const withNic = (mac: string, instance: string) => LIBVIRT_OWNED.replace("    <!-- not qbg's: left alone -->", attachedNic(mac, instance));
    lldpad.held.set('0b3c9f4e-1d2a-4c5b-9e8f-7a6b5c4d3e31', { instanceUuid: '0b3c9f4e-1d2a-4c5b-9e8f-7a6b5c4d3e31', mode: 'assoc', typeId: 1193047, typeIdVersion: 2, managerId2: '', filters: [{ vlan: 100, mac: '52:54:00:aa:00:01' }] });
    t.equal((await runScript(qemu, ['web3', 'started', 'begin', '-'], { stdin: LIBVIRT_OWNED })).code, 0);
    t.equal(nicOf(VM3, '52:54:00:aa:00:01')!.state, 'associated');
    lldpad.held.clear(); // libvirt de-associates every NIC at the stop, the attached one too
    r = await runScript(qemu, ['web3', 'release', 'end', '-'], { stdin: withNic('52:54:00:aa:00:04', '0b3c9f4e-1d2a-4c5b-9e8f-7a6b5c4d3e34') });
    t.equal(r.code, 0, r.stderr);
    t.match(nicOf(VM3, '52:54:00:aa:00:04'), { owner: 'libvirt', state: 'disassociated', reason: /attached while the VM ran/ }, 'the attached NIC');
    r = await runScript(qemu, ['web3', 'release', 'end', '-'], { stdin: withNic('52:54:00:aa:00:05', '0b3c9f4e-1d2a-4c5b-9e8f-7a6b5c4d3e35') });
    t.equal(r.code, 0, r.stderr);
    t.match(nicOf(VM3, '52:54:00:aa:00:05'), { owner: 'libvirt', state: 'failed', reason: /qbg never saw it held/ }, 'after a failed start');
    t.equal(lldpad.requests.length, before, 'no request went to lldpad for a libvirt-owned host');
  });

  await t.test('libvirt: a refusal fails the start, names the cause and rolls back the NICs done', async (t) => {
    const r = await runScript(qemu, ['web2', 'prepare', 'begin', '-'], { stdin: fixture('domain-unknown-profile.xml') });
    t.equal(r.code, 1);
    t.match(r.stderr, /52:54:00:bb:00:02.*no-such-tier/);
    t.not(nicOf(VM2, '52:54:00:bb:00:01')?.state, 'associated', 'the NIC associated in this run was dropped again');

    lldpad.next.push(() => ({ kind: 'rejected', reasonCode: 3, reason: 'insufficient resources at bridge', latencyMs: 2 }));
    const rejected = await runScript(qemu, ['web1', 'prepare', 'begin', '-'], { stdin: TWO });
    t.equal(rejected.code, 1);
    t.match(rejected.stderr, /insufficient resources at bridge/);
    t.match(rejected.stderr, /QBG_ERR_VDP_REJECTED/);
    const states = [nicOf(VM1, '52:54:00:aa:00:01')!.state, nicOf(VM1, '52:54:00:aa:00:02')!.state].sort();
    t.same(states, ['disassociated', 'failed'], 'one refused, the other rolled back');
  });

  await t.test('libvirt: incoming migration pre-associates; prepare leaves it pre-associated', async (t) => {
    const m = await runScript(qemu, ['web1', 'migrate', 'begin', '-'], { stdin: TWO });
    t.equal(m.code, 0, m.stderr);
    t.equal(m.stdout, '', 'an empty stdout keeps the domain XML unchanged');
    t.equal(nicOf(VM1, '52:54:00:aa:00:01')!.state, 'pre-associated');
    t.equal(lldpad.requests.at(-1)!.mode, 'preassoc');
    const p = await runScript(qemu, ['web1', 'prepare', 'begin', '-'], { stdin: TWO });
    t.equal(p.code, 0, p.stderr);
    t.equal(nicOf(VM1, '52:54:00:aa:00:02')!.state, 'pre-associated');
    t.match(p.stderr, /pre-associated for an incoming migration; left as it is/);
    await runScript(qemu, ['web1', 'release', 'end', '-'], { stdin: TWO });
    t.equal(nicOf(VM1, '52:54:00:aa:00:02')!.state, 'disassociated', 'a failed incoming migration releases');
  });

  await t.test('vdsm: start, migration destination prepare/finish, source stop, destroy', async (t) => {
    const xmlFile = join(dir, 'domxml');
    writeFileSync(xmlFile, TWO);
    const env = { _hook_domxml: xmlFile };
    const vdsm = (h: string) => runScript(join(vdsmDir, h, '50_qbg'), [], { env });

    let r = await vdsm('before_vm_start');
    t.equal(r.code, 0, r.stderr);
    t.equal(nicOf(VM1, '52:54:00:aa:00:01')!.state, 'associated');
    r = await vdsm('after_vm_destroy');
    t.equal(r.code, 0, r.stderr);
    t.equal(nicOf(VM1, '52:54:00:aa:00:01')!.state, 'disassociated');

    r = await vdsm('before_vm_migrate_destination');
    t.equal(r.code, 0, r.stderr);
    t.equal(nicOf(VM1, '52:54:00:aa:00:02')!.state, 'pre-associated');
    r = await vdsm('after_vm_migrate_destination');
    t.equal(r.code, 0, r.stderr);
    t.equal(nicOf(VM1, '52:54:00:aa:00:02')!.state, 'associated');
    r = await vdsm('before_vm_migrate_source');
    t.equal(r.code, 0);
    t.equal(nicOf(VM1, '52:54:00:aa:00:02')!.state, 'associated', 'the VM still runs on the source');
    r = await vdsm('after_vm_migrate_source');
    t.equal(r.code, 0, r.stderr);
    t.equal(nicOf(VM1, '52:54:00:aa:00:02')!.state, 'disassociated');

    lldpad.next.push(() => ({ kind: 'timeout', afterMs: 10_000 }));
    r = await vdsm('before_vm_start');
    t.equal(r.code, 2, 'vdsm: 2 = failed, stop the other hooks and the start');
    t.match(r.stderr, /QBG_ERR_VDP_TIMEOUT/);

    const missing = await runScript(join(vdsmDir, 'before_vm_start', '50_qbg'), [], {});
    t.equal(missing.code, 2);
    t.match(missing.stderr, /_hook_domxml is not set/);
  });

  await t.test('qbg down: fail by default, let through when configured; stops never fail', async (t) => {
    const dead = { QBG_URL: 'http://127.0.0.1:9' }; // discard port: nothing listens
    let r = await runScript(qemu, ['web1', 'prepare', 'begin', '-'], { stdin: TWO, env: dead });
    t.equal(r.code, 1);
    t.match(r.stderr, /qbg at http:\/\/127\.0\.0\.1:9 is not reachable/);
    t.match(r.stderr, /refused because qbg is down \(onQbgDown=fail/);
    r = await runScript(qemu, ['web1', 'prepare', 'begin', '-'], { stdin: TWO, env: { ...dead, QBG_HOOK_ON_QBG_DOWN: 'allow' } });
    t.equal(r.code, 0);
    t.match(r.stderr, /WITHOUT VSI association \(onQbgDown=allow\)/);
    r = await runScript(qemu, ['web1', 'stopped', 'end', '-'], { stdin: TWO, env: dead });
    t.equal(r.code, 0, 'a stop is never refused');
    r = await runScript(join(vdsmDir, 'before_vm_start', '50_qbg'), [], { env: { ...dead, _hook_domxml: join(dir, 'domxml') } });
    t.equal(r.code, 2);
  });

  await t.test('a qbg that accepts but never answers counts as down after the connect time limit', async (t) => {
    const sockets = new Set<Socket>();
    const silent = createServer((s) => sockets.add(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    t.teardown(() => {
      for (const s of sockets) s.destroy();
      silent.close();
    });
    const env = { QBG_URL: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, QBG_HOOK_CONNECT_TIMEOUT_MS: '300' };
    const r = await runScript(qemu, ['web1', 'prepare', 'begin', '-'], { stdin: TWO, env });
    t.equal(r.code, 1);
    t.match(r.stderr, /no answer within 300 ms/);
  });

  await t.test("type='network' NICs need defaultUplink (in process: runHook with the same qbg)", async (t) => {
    const vm = '6f0c1a52-93b4-4f0e-8d3e-2b7c4a1e9d04';
    const xml = `<domain type='kvm'><name>net1</name><uuid>${vm}</uuid>
      <metadata><qbg:nics xmlns:qbg="https://qbg.example/xmlns/1"><qbg:nic mac="52:54:00:dd:00:01" profile="db"/></qbg:nics></metadata>
      <devices><interface type='network'><mac address='52:54:00:dd:00:01'/><source network='vepa-net'/><vlan><tag id='200'/></vlan></interface></devices></domain>`;
    const lines: string[] = [];
    const base = { url, token: 'hook-token', onQbgDown: 'fail' as const, connectTimeoutMs: 2000, requestTimeoutMs: 5000 };
    const step = libvirtStep('prepare', 'begin');
    let code = await runHook({ label: 'test', step, domainXml: () => xml, config: base, failCode: 1, stderr: (l) => lines.push(l) });
    t.equal(code, 1);
    t.match(lines.join('\n'), /52:54:00:dd:00:01: no uplink: a type='network' NIC names no <source dev>; set defaultUplink/);
    code = await runHook({ label: 'test', step, domainXml: () => xml, config: { ...base, defaultUplink: 'eth7' }, failCode: 1, stderr: (l) => lines.push(l) });
    t.equal(code, 0, lines.join('\n'));
    t.match(nicOf(vm, '52:54:00:dd:00:01'), { state: 'associated', uplink: 'eth7', vlan: 200 });
  });

  await t.test('a wrong token is a refusal, not an outage', async (t) => {
    const r = await runScript(qemu, ['web1', 'prepare', 'begin', '-'], { stdin: TWO, env: { QBG_TOKEN: 'wrong', QBG_HOOK_ON_QBG_DOWN: 'allow' } });
    t.equal(r.code, 1);
    t.match(r.stderr, /QBG_ERR_UNAUTHORIZED/);
  });
});

t.test('hook install: global --url is stored; a config the hooks would reject leaves nothing behind', async (t) => {
  const { main } = await import('../../src/cli/main.js');
  const { mkdtempSync, writeFileSync, existsSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const d = mkdtempSync(join(tmpdir(), 'qbg-hookinst-'));
  writeFileSync(join(d, 'hook.token'), 'tok\n');
  const quiet = { out: () => undefined, err: () => undefined };
  const ok = await main(['--url', 'http://127.0.0.1:8099', 'hook', 'install', '--dir', join(d, 'hooks'), '--config', join(d, 'hook.json'), '--token-file', join(d, 'hook.token')], quiet);
  t.equal(ok, 0);
  t.match(JSON.parse(readFileSync(join(d, 'hook.json'), 'utf8')), { url: 'http://127.0.0.1:8099', tokenFile: join(d, 'hook.token') });
  const errs: string[] = [];
  const bad = await main(['hook', 'install', '--dir', join(d, 'hooks2'), '--config', join(d, 'hook2.json'), '--token-file', join(d, 'missing.token')], { out: () => undefined, err: (s) => void errs.push(s) });
  t.equal(bad, 1);
  t.match(errs.join('\n'), /tokenFile/);
  t.notOk(existsSync(join(d, 'hook2.json')), 'no config written');
  t.notOk(existsSync(join(d, 'hooks2', 'qemu')), 'no script written');
});
