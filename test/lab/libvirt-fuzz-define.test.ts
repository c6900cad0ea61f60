// The rewrite never turns a document libvirt accepts into one it refuses — asked of libvirt itself for the fuzz
// suite's generated domains (test/fuzz/domain-arbitrary.ts: any quoting, indentation, prefixes, other metadata,
// comments, escaped text, up to six NICs of types direct/network/bridge). The generator's domains are made
// runnable here first (type 'qemu' — no KVM on this machine — and the <memory> and <os> libvirt requires, which the
// generator leaves out, and a disk <target>); then the lab's libvirtd 9.0 `virsh define`s each input and qbg's rewrite of it.
// Every input libvirt accepts must have a rewrite it accepts too.
// A seeded sample per run (default 60 domains, QBG_FUZZ_DEFINE_RUNS=1000 for the fuzz suite's whole count; the
// seed is printed and QBG_FUZZ_DEFINE_SEED replays it): six virsh calls a domain, 30 domains took 69 s here under
// load, so the whole 1,000 would take about 40 minutes.
import t from 'tap';
import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rewriteDomainXml } from '../../src/libvirt/domain-rewrite.js';
import { domainArb } from '../fuzz/domain-arbitrary.js';
import { fixtureTypes } from '../fixtures/libvirt/types.js';
import { startLibvirtLab, type LibvirtLab } from './libvirt-harness.js';

t.setTimeout(1_800_000);

const RUNS = Number(process.env.QBG_FUZZ_DEFINE_RUNS ?? 60);
const SEED = Number(process.env.QBG_FUZZ_DEFINE_SEED ?? Date.now() % 2 ** 31);

/** kvm → qemu, <memory>/<os> right after <name>, and a <target> for the disk (the generator's documents lack them). */
function runnable(xml: string): string {
  return xml
    .replace(/<domain type=(['"])kvm\1/, "<domain type='qemu'")
    .replace('</disk>', "<target dev='vda'/></disk>")
    .replace(/<\/name>/, "</name><memory unit='MiB'>64</memory><os><type arch='x86_64' machine='pc'>hvm</type></os>");
}

/** Define; whatever got defined is undefined again (by UUID: generated names can be anything). */
async function defines(lv: LibvirtLab, file: string): Promise<{ ok: boolean; why: string }> {
  const r = await lv.virsh(['define', file]);
  const listed = await lv.virsh(['list', '--all', '--uuid']);
  for (const uuid of listed.stdout.split('\n').map((s) => s.trim()).filter(Boolean)) await lv.virsh(['undefine', uuid]);
  return { ok: r.code === 0, why: r.stderr.trim() };
}

t.test(`libvirt defines qbg's rewrite of every generated domain it defines (seed ${SEED}, ${RUNS} domains)`, async (t) => {
  const lv = await startLibvirtLab(t, { bridge: 'none', waitForEvb: false });
  const types = fixtureTypes();
  const sample = fc.sample(domainArb, { seed: SEED, numRuns: RUNS });
  const tally = { inputsAccepted: 0, inputsRefused: 0, qbgNics: 0 };
  const refusedWhy = new Set<string>();
  let n = 0;
  for (const d of sample) {
    n++;
    const input = runnable(d.xml);
    const inFile = join(lv.lab.stateDir, `fuzz-in-${n}.xml`);
    writeFileSync(inFile, input);
    const before = await defines(lv, inFile);
    if (!before.ok) {
      // the generator's own document is not one libvirt takes (e.g. an empty name): the property says nothing
      tally.inputsRefused++;
      refusedWhy.add(before.why.replace(/^error: Failed to define domain from \S+\s*/, ''));
      continue;
    }
    tally.inputsAccepted++;
    const { xml, changes } = rewriteDomainXml(types, input, d.hasUuid ? {} : { vmUuid: d.vmUuid });
    tally.qbgNics += changes.length;
    const outFile = join(lv.lab.stateDir, `fuzz-out-${n}.xml`);
    writeFileSync(outFile, xml);
    const after = await defines(lv, outFile);
    if (!after.ok) t.fail(`seed ${SEED} domain #${n}: libvirt defines the input but refuses qbg's rewrite: ${after.why}\n--- input\n${input}\n--- rewrite\n${xml}`);
  }
  t.comment(`${tally.inputsAccepted} inputs defined and their rewrites too (${tally.qbgNics} virtualports added), ${tally.inputsRefused} inputs libvirt refused itself: ${[...refusedWhy].join(' | ') || 'none'}`);
  t.ok(tally.inputsAccepted >= RUNS * 0.8, `libvirt took ${tally.inputsAccepted} of ${RUNS} generated inputs (the property needs inputs libvirt accepts)`);
  t.ok(tally.qbgNics >= tally.inputsAccepted, 'every accepted input had at least one qbg NIC rewritten');
});
