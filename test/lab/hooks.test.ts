// The installed libvirt / vdsm hook scripts, run as processes, against two complete qbg services (createService:
// the composition root `qbg serve` uses) whose lldpads run in a real lab: VM start on station 1, live migration to
// station 2, stop on station 1. What each lldpad holds is read back with vdptool; the same run is watched through
// station 1's /events stream, /metrics and /readyz.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab, heldOn } from './harness.js';
import { until } from '../helpers/until.js';
import { defaultConfig } from '../../src/config.js';
import { createService, type QbgService } from '../../src/service/app.js';
import { hookCommand } from '../../src/cli/hook.js';
import { stableInstanceId } from '../../src/domain/instance-uuid.js';
import type { CliIo } from '../../src/cli/io.js';

const VM = '6f0c1a52-93b4-4f0e-8d3e-2b7c4a1e9d01';
// both NICs named in qbg's metadata, no interface-level virtualport: qbg owns their VSIs (the default ownership)
const fixture = readFileSync(new URL('../fixtures/hooks/domain-two-nics-qbg.xml', import.meta.url), 'utf8');
const UUID_VP = stableInstanceId(VM, '52:54:00:aa:00:01'); // the web NIC's VSI
// the lab's station uplink is s0
const DOMAIN = fixture.replace("source dev='eth0'", "source dev='s0'").replace("source dev='eth1'", "source dev='s0'");


function run(path: string, argv: string[], opts: { stdin?: string; env?: Record<string, string> } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(path, argv, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...opts.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => {});
    child.stdin.end(opts.stdin ?? '');
  });
}

const io = (): CliIo => ({ out: () => {}, err: () => {}, json: true, baseUrl: 'http://127.0.0.1:1', fetch, readStdin: async () => '' });

t.test('hooks drive real lldpads through qbg: start, migrate, stop', async (t) => {
  const lab = await startLab(t, { stations: 2, bridge: 'lldpad', stationEvb: true });
  await Promise.all([lab.waitForEvb('st1'), lab.waitForEvb('st2')]);
  const dir = mkdtempSync(join(tmpdir(), 'qbg-lab-hooks-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  /** One host: its own qbg (own SQLite, lldpad client in the station's namespace) and its own installed hooks. */
  const host = async (station: string) => {
    const c = defaultConfig();
    c.dbPath = join(dir, `${station}.db`);
    c.listen.port = 0;
    c.logLevel = 'silent';
    c.lldpad.netns = lab.station(station).netns;
    c.tokens = { admin: ['adm'], hook: [`hook-${station}`], monitor: ['mon'] };
    const svc: QbgService = await createService(c);
    const [url] = await svc.start();
    t.teardown(() => svc.stop());
    svc.types.create({ name: 'web', managerId: 16, typeId: 1193047, typeIdVersion: 2 });
    svc.types.create({ name: 'db', managerId: 16, typeId: 7, typeIdVersion: 1 });
    const hooksDir = join(dir, station);
    writeFileSync(join(dir, `${station}.token`), `hook-${station}\n`);
    const code = await hookCommand(
      ['install', '--libvirt', '--vdsm', '--dir', join(hooksDir, 'libvirt'), '--vdsm-dir', join(hooksDir, 'vdsm'), '--config', join(hooksDir, 'hook.json'), '--url', url, '--token-file', join(dir, `${station}.token`)],
      io(),
    );
    t.equal(code, 0, `hooks installed for ${station}`);
    return { svc, url, qemu: join(hooksDir, 'libvirt', 'qemu'), vdsm: (h: string) => join(hooksDir, 'vdsm', h, '50_qbg') };
  };
  const src = await host('st1');
  const dst = await host('st2');

  // watch station 1 the way an operator would
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  const stream = await fetch(`${src.url}/events?vm=${VM}`, { headers: { authorization: 'Bearer mon' }, signal: ac.signal });
  t.equal(stream.status, 200);
  let sse = '';
  void (async () => {
    const dec = new TextDecoder();
    try {
      for await (const chunk of stream.body as unknown as AsyncIterable<Uint8Array>) sse += dec.decode(chunk, { stream: true });
    } catch {
      /* aborted at teardown */
    }
  })();

  await t.test('VM start on station 1 (libvirt prepare)', async (t) => {
    const r = await run(src.qemu, ['web1', 'prepare', 'begin', '-'], { stdin: DOMAIN });
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, '');
    const meta = src.svc.nics.repo.get(`${VM}_52:54:00:aa:00:02`)!;
    t.same(await heldOn(lab, 'st1', UUID_VP), ['assoc'], 'web NIC held with the instance id derived from VM + MAC');
    t.same(await heldOn(lab, 'st1', meta.instanceUuid), ['assoc'], 'metadata NIC held');

    const ready = await fetch(`${src.url}/readyz`);
    t.equal(ready.status, 200, await ready.text());
    const metrics = await (await fetch(`${src.url}/metrics`, { headers: { authorization: 'Bearer mon' } })).text();
    t.match(metrics, /qbg_nics\{state="associated"\} 2/);
    const accepted = /qbg_vdp_request_duration_seconds_count\{mode="assoc",outcome="accepted"\} (\d+)/.exec(metrics);
    t.ok(accepted && Number(accepted[1]) >= 2, 'association latency measured');
    // the request metric is fed as each answer finishes, after it was written: wait for it rather than race it
    const counted = /qbg_http_request_duration_seconds_count\{method="POST",route="\/nics\/associate",status_code="200"\} (\d+)/;
    const requests = await until('both hook associates in the request metric', async () => {
      const m = await (await fetch(`${src.url}/metrics`, { headers: { authorization: 'Bearer mon' } })).text();
      const n = Number(counted.exec(m)?.[1] ?? 0);
      if (n < 2) throw new Error(`POST /nics/associate 200 counted ${n} times`);
      return n;
    }, 10_000);
    t.equal(requests, 2, 'each hook associate counted once in the request metric');
  });

  await t.test('live migration to station 2: libvirt migrate begin, vdsm after_vm_migrate_destination, libvirt stopped on the source', async (t) => {
    const meta = src.svc.nics.repo.get(`${VM}_52:54:00:aa:00:02`)!;
    let r = await run(dst.qemu, ['web1', 'migrate', 'begin', '-'], { stdin: DOMAIN });
    t.equal(r.code, 0, r.stderr);
    t.same(await heldOn(lab, 'st2', UUID_VP), ['preassoc'], 'destination pre-associated');
    t.same(await heldOn(lab, 'st1', UUID_VP), ['assoc'], 'source still associated');
    r = await run(dst.qemu, ['web1', 'prepare', 'begin', '-'], { stdin: DOMAIN });
    t.equal(r.code, 0, r.stderr);
    t.same(await heldOn(lab, 'st2', meta.instanceUuid), ['preassoc'], 'prepare keeps the pre-association');

    const domxml = join(dir, 'web1.xml');
    writeFileSync(domxml, DOMAIN);
    r = await run(dst.vdsm('after_vm_migrate_destination'), [], { env: { _hook_domxml: domxml } });
    t.equal(r.code, 0, r.stderr);
    t.same(await heldOn(lab, 'st2', UUID_VP), ['assoc'], 'destination associated');
    t.same(await heldOn(lab, 'st2', meta.instanceUuid), ['assoc']);

    r = await run(src.qemu, ['web1', 'stopped', 'end', '-'], { stdin: DOMAIN });
    t.equal(r.code, 0, r.stderr);
    t.same(await heldOn(lab, 'st1', UUID_VP), [], 'source holds nothing');
    t.same(await heldOn(lab, 'st1', meta.instanceUuid), []);
    t.same(await heldOn(lab, 'st2', UUID_VP), ['assoc'], 'destination keeps it');
  });

  await t.test('lldpad down on station 1: the documented outage policy applies', async (t) => {
    await lab.killLldpad('st1');
    let r = await run(src.qemu, ['web1', 'prepare', 'begin', '-'], { stdin: DOMAIN });
    t.equal(r.code, 1, 'refused by default');
    t.match(r.stderr, /lldpad does not answer qbg/);
    t.match(r.stderr, /refused because qbg is down \(onQbgDown=fail/);
    r = await run(src.qemu, ['web1', 'prepare', 'begin', '-'], { stdin: DOMAIN, env: { QBG_HOOK_ON_QBG_DOWN: 'allow' } });
    t.equal(r.code, 0, r.stderr);
    t.match(r.stderr, /WITHOUT VSI association \(onQbgDown=allow\)/);
    const ready = await fetch(`${src.url}/readyz`);
    t.equal(ready.status, 503);
    t.same((await ready.json()).failing, ['lldpad']);
  });

  await t.test("station 1's event stream told the story in order", async (t) => {
    const deadline = Date.now() + 5000;
    const transitions = () => [...sse.matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]!)).filter((e) => e.kind === 'nic-transition');
    while (transitions().filter((e) => e.to === 'disassociated').length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const seen = transitions();
    for (const mac of ['52:54:00:aa:00:01', '52:54:00:aa:00:02']) {
      t.same(seen.filter((e) => e.mac === mac).map((e) => e.to).slice(0, 4), ['associating', 'associated', 'disassociating', 'disassociated'], mac);
    }
    const ids = [...sse.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    t.same(ids, [...ids].sort((a, b) => a - b), 'ids increase');
  });
});
