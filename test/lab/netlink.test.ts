// The libvirt association path against a real lldpad: RTM_SETLINK to lldpad's pid, GETLINK polls, checked with
// vdptool. NetlinkPortProfile runs in a child process inside the station's namespace (test/lab/drivers).
// st1 has EVB configured and exchanged with the bridge; st2's lldpad is restarted unconfigured for the
// EPROTONOSUPPORT case. One lab for the whole file.
import t from 'tap';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LibvirtDiagnosis } from '../../src/lldpad/netlink-port.js';
import type { VsiOutcome, VsiRequest, VsiStatus } from '../../src/domain/vsi-request.js';
import { startLab, type Lab } from './harness.js';

const DRIVER = fileURLToPath(new URL('./drivers/netlink-driver.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface StepResult {
  op: string;
  ok: boolean;
  ms: number;
  value?: any;
  error?: { code?: string; error: string; field?: string };
}
interface DriverOut {
  results: StepResult[];
  events: Array<{ kind: string; instanceUuid: string }>;
  exitCode: number;
  stderr: string;
}

/** Run the driver in `netns`; resolves with its JSON and exit code (a crash shows as no JSON / non-zero code). */
function drive(netns: string, args: Record<string, unknown>): Promise<DriverOut> {
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      ['netns', 'exec', netns, process.execPath, '--import', 'tsx', DRIVER, JSON.stringify(args)],
      { cwd: ROOT, timeout: 60_000, maxBuffer: 8 << 20 },
      (err, stdout, stderr) => {
        const exitCode = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        const line = stdout.trim().split('\n').pop() ?? '';
        try {
          const parsed = JSON.parse(line) as Omit<DriverOut, 'exitCode' | 'stderr'> & { fatal?: string };
          if (parsed.fatal) return reject(new Error(`driver failed: ${parsed.fatal}`));
          resolve({ ...parsed, exitCode, stderr });
        } catch {
          reject(new Error(`driver printed no JSON (exit ${exitCode}): ${stdout}\n${stderr}`));
        }
      },
    );
  });
}

function req(uuid: string, mode: VsiRequest['mode'], vlan = 0, mac = '52:54:00:12:34:56'): VsiRequest {
  return {
    uplink: 's0',
    mode,
    managerId2: '05000000000000000000000000000000',
    typeId: 1193047,
    typeIdVersion: 2,
    instanceUuid: uuid,
    filterFormat: 'vlan-mac',
    filters: [{ vlan, mac }],
  };
}

/**
 * vdptool's view of one VSI: key = value lines, or {} when lldpad does not hold it. vdptool -t -V <mode> -c uuid=
 * finds a VSI only when -V names its current mode (a preassociated VSI is invisible to -V assoc), so ask each mode.
 */
async function vdptoolVsi(lab: Lab, uuid: string): Promise<Record<string, string>> {
  for (const mode of ['assoc', 'preassoc', 'preassoc-rr']) {
    const r = await lab.vdptool('st1', ['-i', 's0', '-t', '-V', mode, '-c', `uuid=${uuid}`]);
    const out: Record<string, string> = {};
    for (const m of r.stdout.matchAll(/^\s*(\w+) = (.*)$/gm)) out[m[1]] = m[2].trim();
    if (Object.keys(out).length > 0) return out;
  }
  return {};
}

const timings: Record<string, number[]> = { assocAck: [], assocDone: [], deassocAck: [], deassocDone: [] };

t.test('libvirt path over netlink against a real lldpad', async (t) => {
  const lab = await startLab(t, { stations: 2, stationEvb: true });
  const st1 = lab.station('st1');
  const pid = st1.lldpadPid;
  t.ok(pid, 'the lab recorded st1 lldpad pid');
  const evb = await lab.waitForEvb('st1');
  t.comment(`EVB exchanged after ${evb.waitedMs} ms`);
  const base = { lldpadPid: pid, pollIntervalMs: 10, maxPolls: 500 }; // 5 s, as libvirt's 10 s budget

  t.test('associate: lldpad acks, the poll says done, vdptool shows the VSI as sent', async (t) => {
    const uuid = randomUUID();
    const out = await drive(st1.netns, {
      ...base,
      steps: [
        { op: 'request', req: req(uuid, 'assoc', 10, '52:54:00:aa:00:01') },
        { op: 'status', uplink: 's0' },
        { op: 'query', uplink: 's0', uuid },
      ],
    });
    t.equal(out.exitCode, 0);
    const [assoc, status, query] = out.results;
    t.same((assoc.value as VsiOutcome).kind, 'accepted', JSON.stringify(assoc));
    t.equal(assoc.value.mode, 'assoc');
    const listed = (status.value.vsis as Array<{ instanceUuid: string; response?: number }>).find((v) => v.instanceUuid === uuid);
    t.same(listed && { response: listed.response }, { response: 0 }, 'GETLINK lists the VSI with response 0');
    const q = query.value as VsiStatus;
    t.same([q.instanceUuid, q.mode, q.typeId, q.filters], [uuid, 'assoc', 1193047, [{ vlan: 10, mac: '52:54:00:aa:00:01' }]]);
    const seen = await vdptoolVsi(lab, uuid);
    t.same(
      { mode: seen.mode, typeid: seen.typeid, typeidver: seen.typeidver, filter: seen.filter, uuid: seen.uuid },
      { mode: 'assoc', typeid: '1193047', typeidver: '2', filter: '10-52:54:00:aa:00:01', uuid },
    );
    t.comment(`vdptool shows the one-byte manager id as mgrid2 = ${seen.mgrid2}`);
  });

  t.test('libvirt-eye diagnosis of an associate and a disassociate', async (t) => {
    const uuid = randomUUID();
    const out = await drive(st1.netns, {
      ...base,
      steps: [
        { op: 'diagnose', req: req(uuid, 'assoc', 0, '52:54:00:aa:00:02') },
        { op: 'diagnose', req: req(uuid, 'deassoc', 0, '52:54:00:aa:00:02') },
        { op: 'listen', ms: 300 },
      ],
    });
    const a = out.results[0].value as LibvirtDiagnosis;
    const d = out.results[1].value as LibvirtDiagnosis;
    t.same([a.libvirt.result, a.qbg.kind], ['success', 'accepted'], JSON.stringify(a.steps));
    t.same(
      a.steps.map((s) => s.step).filter((s, i, all) => all.indexOf(s) === i),
      ['resolve', 'pre-poll', 'setlink', 'ack', 'poll', 'verdict'],
      'the trace has every step in order',
    );
    t.equal(a.lldpadPid, pid);
    t.match(a.sent?.hex, /^[0-9a-f]+$/);
    t.same(a.warnings, [], 'a fresh VSI: libvirt reads the bridge\'s own answer');
    t.same([d.libvirt.result, d.qbg.kind], ['success', 'accepted'], JSON.stringify(d.steps));
    const lastPoll = [...d.steps].reverse().find((s) => s.step === 'poll');
    t.equal(lastPoll?.detail.found, false, 'qbg calls a disassociate done when the UUID is gone');
    t.same(await vdptoolVsi(lab, uuid), {}, 'vdptool no longer lists it');
    // lldpad may echo our own disassociate to our port as SETLINK(PORT_REQUEST=3): never a bridge event
    t.same(out.events, [], 'our own disassociate is not reported as deassociated-by-bridge');
    for (const [k, v] of [
      ['assocAck', a.ackMs],
      ['assocDone', a.doneMs],
      ['deassocAck', d.ackMs],
      ['deassocDone', d.doneMs],
    ] as const) {
      if (v !== undefined) timings[k].push(v);
    }
  });

  // lldpad keeps the preassoc's response 0 while the bridge works on the assoc; reading it as done and sending the
  // disassociate at once got EBUSY before qbg waited settleMs for a VSI it already held.
  t.test('pre-associate, then associate (a migration destination), then disassociate', async (t) => {
    const uuid = randomUUID();
    const out = await drive(st1.netns, {
      ...base,
      steps: [{ op: 'request', req: req(uuid, 'preassoc', 20, '52:54:00:aa:00:03') }],
    });
    t.same(out.results[0].value, { ...out.results[0].value, kind: 'accepted', mode: 'preassoc' });
    t.equal((await vdptoolVsi(lab, uuid)).mode, 'preassoc');
    const out2 = await drive(st1.netns, {
      ...base,
      steps: [
        { op: 'request', req: req(uuid, 'assoc', 20, '52:54:00:aa:00:03') },
        { op: 'request', req: req(uuid, 'deassoc', 20, '52:54:00:aa:00:03') },
        { op: 'status', uplink: 's0' },
      ],
    });
    t.same(out2.results.slice(0, 2).map((r) => [r.value?.kind, r.value?.mode]), [
      ['accepted', 'assoc'],
      ['accepted', 'deassoc'],
    ]);
    t.notOk(
      (out2.results[2].value.vsis as Array<{ instanceUuid: string }>).some((v) => v.instanceUuid === uuid),
      'GETLINK no longer lists the UUID',
    );
    t.same(await vdptoolVsi(lab, uuid), {});
  });

  t.test('wrong lldpad pid: a clear error, no crash', async (t) => {
    // the bridge's lldpad: a live lldpad, but in another network namespace, so no netlink port here
    const wrong = lab.bridge.lldpadPid;
    t.ok(wrong);
    const uuid = randomUUID();
    const out = await drive(st1.netns, {
      ...base,
      lldpadPid: wrong,
      steps: [
        { op: 'ping' },
        { op: 'request', req: req(uuid, 'assoc') },
        { op: 'status', uplink: 's0' },
        { op: 'request', req: req(uuid, 'deassoc') }, // a second send after the failure must not abort the process
      ],
    });
    t.equal(out.exitCode, 0, 'driver exited normally');
    t.same(out.results[0].value, { ok: false, pid: wrong });
    t.equal(out.results[1].value.kind, 'transport-error');
    t.match(out.results[1].value.message, /ECONNREFUSED/);
    t.match(out.results[1].value.message, new RegExp(`port ${wrong}`));
    t.equal(out.results[2].ok, false);
    t.equal(out.results[2].error?.code, 'QBG_ERR_LLDPAD_UNREACHABLE');
    t.equal(out.results[3].value.kind, 'transport-error');
    t.same(await vdptoolVsi(lab, uuid), {}, 'nothing reached lldpad');
  });

  t.test('a manager id that needs 16 bytes is refused before anything is sent', async (t) => {
    const out = await drive(st1.netns, {
      ...base,
      steps: [{ op: 'request', req: { ...req(randomUUID(), 'assoc'), managerId2: '00000000000000000000ffff0a000001' } }],
    });
    t.equal(out.results[0].ok, false);
    t.equal(out.results[0].error?.code, 'QBG_ERR_XML_NOT_EXPRESSIBLE');
    t.equal(out.results[0].error?.field, 'managerId2');
  });

  t.test('a station whose lldpad has no EVB configured answers EPROTONOSUPPORT', async (t) => {
    // restart st2's lldpad from an empty config: LLDP runs, EVB/VDP do not
    await lab.killLldpad('st2', 'TERM');
    await writeFile(join(lab.stateDir, 'st2.conf'), '');
    await lab.startLldpad('st2');
    // lldpad answers lldptool at once, but starts VDP22 on the port only on its first LLDP timer tick; a request
    // before that gets ENXIO from the old VDP 0.2 code (seen on a busy machine). Wait for the module itself.
    await lab.waitForVdp22('st2');
    const st2 = lab.station('st2');
    const out = await drive(st2.netns, {
      ...base,
      lldpadPid: st2.lldpadPid,
      steps: [{ op: 'ping' }, { op: 'request', req: req(randomUUID(), 'assoc') }],
    });
    t.same(out.results[0].value, { ok: true, pid: st2.lldpadPid }, 'lldpad itself answers');
    const r = JSON.stringify(out.results[1]);
    t.equal(out.results[1].value?.kind, 'transport-error', r);
    t.match(out.results[1].value?.message, /EPROTONOSUPPORT/, r);
    t.match(out.results[1].value?.message, /EVB is not enabled/, r);
  });

  t.teardown(() => {
    const fmt = (xs: number[]) => (xs.length ? xs.map((x) => x.toFixed(1)).join(', ') : 'n/a');
    console.error(
      `# netlink timings (ms, poll every 10 ms): assoc ack ${fmt(timings.assocAck)}, done ${fmt(timings.assocDone)}; ` +
        `deassoc ack ${fmt(timings.deassocAck)}, done ${fmt(timings.deassocDone)}`,
    );
  });
});
