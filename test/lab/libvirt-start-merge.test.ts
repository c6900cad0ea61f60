// libvirt is the judge of `qbg xml check DOMAIN --network NETWORK`: the merge rules libvirt applies when it STARTS a
// guest whose <interface type='network'> names the network (the interface's, the network's and the portgroup's
// virtualports merged, the merged type against the forward mode, completeness, a VLAN tag the network can carry).
// Each case of test/fixtures/libvirt-oracle/start/ is a network and a guest: the real libvirtd 9.0 defines and
// starts the network (VEPA on the station's vxlan uplink), defines the guest and `virsh start`s it (a TCG guest;
// an accepted 802.1Qbg NIC really associates through the station lldpad with the bridge lldpad); qbg checks the
// same two files. Both verdicts must be equal, and the one the case's name states (accept-… / reject-…).
import t from 'tap';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { xmlCommand } from '../../src/cli/xml.js';
import type { CliIo } from '../../src/cli/io.js';
import type { XmlCheckResult } from '../../src/libvirt/xml-check.js';
import { startLibvirtLab } from './libvirt-harness.js';

// 16 guest starts with qbg's hook (a Node process per hook call): ~4 min at load 10+, more than tap's 300 s
t.setTimeout(900_000);

const CASES = new URL('../fixtures/libvirt-oracle/start/', import.meta.url).pathname;

async function qbgCheck(domain: string, network: string): Promise<{ code: number; result: XmlCheckResult }> {
  const out: string[] = [];
  const io: CliIo = { out: (s) => out.push(s), err: () => {}, json: true, baseUrl: 'http://127.0.0.1:1', fetch, readStdin: async () => '' };
  const code = await xmlCommand(['check', domain, '--network', network], io);
  return { code, result: JSON.parse(out.join('')) as XmlCheckResult };
}

t.test('qbg xml check --network gives the verdict of virsh start on every start case', async (t) => {
  // the hook lets VMs through (no qbg serves here): the verdicts are libvirt's own
  const lv = await startLibvirtLab(t, { hook: { onQbgDown: 'allow' } });
  const tally = { accept: 0, reject: 0 };
  for (const name of readdirSync(CASES).sort()) {
    const network = join(CASES, name, 'network.xml');
    const domain = join(CASES, name, 'domain.xml');
    const stated = name.startsWith('accept-') ? true : name.startsWith('reject-') ? false : undefined;
    t.not(stated, undefined, `${name} states its verdict (accept-… or reject-…)`);
    for (const step of [['net-define', network], ['net-start', 'qbg-start'], ['define', domain]]) {
      const r = await lv.virsh(step);
      t.equal(r.code, 0, `${name}: ${step[0]}: ${r.stderr.trim()}`);
    }
    const logFrom = lv.log().length;
    const start = await lv.virsh(['start', 'qbg-start-guest'], { timeoutMs: 90_000 }); // (the harness starts again after a severed macvtap)
    const libvirtOk = start.code === 0;
    if (libvirtOk !== stated) {
      // the tail the lab prints at the end is too late for this start: its own errors, from libvirtd's log
      const errors = lv.log().slice(logFrom).split('\n').filter((l) => / : (error|warning) : /.test(l) && !/dnsmasq|DBus|DMI|dmidecode/.test(l));
      t.comment(`${name}: libvirtd's errors during the start:\n${errors.join('\n')}`);
    }
    if (libvirtOk) await lv.virsh(['destroy', 'qbg-start-guest']);
    for (const step of [['undefine', 'qbg-start-guest'], ['net-destroy', 'qbg-start'], ['net-undefine', 'qbg-start']]) await lv.virsh(step);
    const qbg = await qbgCheck(domain, network);
    const qbgSays = qbg.result.violations.map((v) => `${v.rule}: ${v.element}: ${v.message}`).join('; ') || 'ok';
    t.equal(qbg.result.ok, libvirtOk, `${name}: qbg ${qbg.result.ok ? 'accepts' : 'refuses'} (${qbgSays}), virsh start ${libvirtOk ? 'starts it' : `fails (${start.stderr.trim()})`}`);
    t.equal(qbg.code, libvirtOk ? 0 : 1, `${name}: exit code`);
    t.equal(libvirtOk, stated, `${name}: libvirt's verdict is the one the name states`);
    tally[libvirtOk ? 'accept' : 'reject']++;
  }
  t.ok(tally.accept >= 5 && tally.reject >= 5, `${tally.accept} started, ${tally.reject} refused by libvirt`);
});
