// A real libvirtd starting a real (TCG) guest whose NIC carries a full interface-level 802.1Qbg virtualport on the
// lab's vxlan uplink: libvirt itself announces the VSI to the station lldpad over netlink, the station lldpad
// associates it with the bridge lldpad, and `virsh destroy` de-associates it. qbg's qemu hook, installed by
// `qbg hook install`, runs at every step (no qbg serves here: the hook is set to let VMs through, onQbgDown=allow).
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { labCommand } from '../../src/cli/lab.js';
import type { CliIo } from '../../src/cli/io.js';
import { HOOK_MARKER } from '../../src/hooks/install.js';
import { labDown, randomLabId, type LabInfo } from '../../src/lab/lab.js';
import { heldOn } from './harness.js';
import { assertLibvirtPrerequisites, guestXml, startLibvirtLab, vsiOn } from './libvirt-harness.js';
import { until } from '../helpers/until.js';

const execFileP = promisify(execFile);

const VM = '6d1a4b5c-1111-4222-8333-944455556666';
const MAC = '52:54:00:77:00:01';
const INSTANCE = '09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f';

t.test('virsh start associates the VSI through the station lldpad; virsh destroy de-associates it', async (t) => {
  const lv = await startLibvirtLab(t, { hook: { onQbgDown: 'allow' } });
  const { lab } = lv;
  const xml = guestXml({
    name: 'qbg-guest1',
    uuid: VM,
    nics: [{ mac: MAC, virtualport: { managerid: 11, typeid: 1193047, typeidversion: 2, instanceid: INSTANCE } }],
  });
  let r = await lv.defineXml('define', xml);
  t.equal(r.code, 0, `defined: ${r.stderr}`);
  t.same(await heldOn(lab, 'st1', INSTANCE), [], 'nothing held before the start');

  r = await lv.virsh(['start', 'qbg-guest1']);
  t.equal(r.code, 0, `virsh start: ${r.stdout}${r.stderr}`);
  // libvirt returns from start only after lldpad reported the association done: no polling needed
  t.same(await vsiOn(lab, 'st1', INSTANCE), {
    mode: 'assoc',
    mgrid2: '11', // lldpad prints the byte libvirt sent, 11 (decimal in the XML) as 11
    typeid: '1193047',
    typeidver: '2',
    uuid: INSTANCE,
    hints: '0',
    filter: `0-${MAC}`,
  }, 'the station lldpad holds the VSI libvirt announced, with the XML\'s parameters and the NIC\'s MAC');
  const log = lv.log();
  t.match(log, new RegExp(`virNetDevVPortProfileOpSetLink:\\d+ : ASSOCIATE: ifname: s0 [^\\n]*mac: ${MAC}`), "libvirt's own netlink request (libvirtd log)");
  t.match(log, /Calling hook \/etc\/libvirt\/hooks\/qemu id=qbg-guest1 op=prepare subop=begin/, "qbg's installed hook ran at prepare begin");
  t.equal((await lv.virsh(['domstate', 'qbg-guest1'])).stdout.trim(), 'running');

  r = await lv.virsh(['destroy', 'qbg-guest1']);
  t.equal(r.code, 0, `virsh destroy: ${r.stderr}`);
  t.same(await until('the VSI to leave the station lldpad', async () => ((await heldOn(lab, 'st1', INSTANCE)).length === 0 ? [] : undefined), 15_000), [], 'de-associated');
  t.match(lv.log(), new RegExp(`virNetDevVPortProfileOpSetLink:\\d+ : DISASSOCIATE: ifname: s0 [^\\n]*mac: ${MAC}`), 'libvirt sent the de-associate');
  t.match(lv.log(), /Calling hook \/etc\/libvirt\/hooks\/qemu id=qbg-guest1 op=release subop=end/, 'the hook ran at release end');
});

t.test('qbg lab up --libvirt: a libvirtd per station, isolated, with qbg\'s hook; down removes it all', async (t) => {
  assertLibvirtPrerequisites();
  const id = randomLabId();
  t.teardown(() => labDown(id).catch(() => {}));
  const out: string[] = [];
  const io: CliIo = { out: (s) => out.push(s), err: () => {}, json: true, baseUrl: 'http://127.0.0.1:1', fetch, readStdin: async () => '' };
  t.equal(await labCommand(['up', '--id', id, '--libvirt', '--station-evb'], io), 0);
  const lab = JSON.parse(out.join('')) as LabInfo;
  t.equal(lab.uplinkKind, 'vxlan');
  const lv = lab.stations[0].libvirt!;
  t.type(lv.libvirtdPid, 'number', 'libvirtd runs');
  const hook = readFileSync(join(lv.root, 'etc', 'hooks', 'qemu'), 'utf8');
  t.match(hook, HOOK_MARKER, 'qbg hook install wrote the qemu hook into the private /etc/libvirt/hooks');
  t.match(JSON.parse(readFileSync(join(lv.root, 'etc', 'qbg-hook.json'), 'utf8')), { onQbgDown: 'allow', url: 'http://127.0.0.1:1' });
  const { stdout } = await execFileP('virsh', ['-c', lv.uri, 'uri']);
  t.match(stdout.trim(), /^qemu:\/\/\/system\?socket=/, 'virsh reaches it on its private socket');
  t.equal(readlinkSync(`/proc/${lv.libvirtdPid}/ns/net`), readlinkSync(`/proc/${lab.stations[0].lldpadPid}/ns/net`), 'in the station\'s network namespace');
  t.not(readlinkSync(`/proc/${lv.libvirtdPid}/ns/mnt`), readlinkSync('/proc/self/ns/mnt'), 'in its own mount namespace');
  t.equal(readFileSync(join(lv.root, 'run', 'lldpad.pid'), 'utf8').trim(), String(lab.stations[0].lldpadPid), 'its /run/lldpad.pid names the station lldpad');
  t.equal(readFileSync(`/proc/${lv.libvirtdPid}/root/run/lldpad.pid`, 'utf8').trim(), String(lab.stations[0].lldpadPid), '…as libvirtd sees it');

  await labDown(id);
  t.notOk(existsSync(`/proc/${lv.libvirtdPid}/ns`) && !readFileSync(`/proc/${lv.libvirtdPid}/stat`, 'utf8').includes(') Z'), 'libvirtd is gone');
  t.notOk(existsSync(lv.root), 'its private root is gone');
});
