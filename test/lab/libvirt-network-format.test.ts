// `qbg xml network FILE` writes a network back the way libvirt does: for every network of the corpus
// (test/fixtures/libvirt-oracle/network/accept-*, libvirt's vepa-net.xml among them) and every network qbg
// generates (test/fixtures/libvirt/network-*/expected.xml), the lab's libvirtd 9.0 `net-define`s it and
// `net-dumpxml` prints it; qbg's output must be the same bytes. Networks qbg does not write back (not of the
// macvtap family) must be refused naming the element, and are counted.
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { formatNetworkXml } from '../../src/libvirt/network-format.js';
import { isQbgError } from '../../src/domain/errors.js';
import { startLibvirtLab } from './libvirt-harness.js';

const ORACLE = new URL('../fixtures/libvirt-oracle/network/', import.meta.url).pathname;
const GENERATED = new URL('../fixtures/libvirt/', import.meta.url).pathname;

t.test("qbg xml network FILE prints what libvirt's net-dumpxml prints for the defined network", async (t) => {
  const lv = await startLibvirtLab(t, { bridge: 'none', waitForEvb: false });
  const files = [
    ...readdirSync(ORACLE).filter((f) => f.startsWith('accept-')).map((f) => join(ORACLE, f)),
    ...readdirSync(GENERATED).filter((d) => d.startsWith('network-')).map((d) => join(GENERATED, d, 'expected.xml')),
  ].sort();
  let same = 0;
  const refused: string[] = [];
  for (const file of files) {
    const input = readFileSync(file, 'utf8');
    const name = /<name>([^<]+)<\/name>/.exec(input)![1];
    const def = await lv.defineXml('net-define', input);
    t.equal(def.code, 0, `${file}: net-define: ${def.stderr.trim()}`);
    const dump = await lv.virsh(['net-dumpxml', name]);
    await lv.virsh(['net-undefine', name]);
    const libvirtUuid = /<uuid>([^<]+)<\/uuid>/.exec(dump.stdout)?.[1];
    let ours;
    try {
      ours = formatNetworkXml(input, { uuid: () => libvirtUuid! });
    } catch (e) {
      if (!isQbgError(e) || e.code !== 'QBG_ERR_XML_SHAPE') throw e;
      t.match(e.message, /not supported|forward mode/, `${file}: refused naming what (${e.message})`);
      refused.push(file.slice(file.lastIndexOf('/fixtures/') + 10));
      continue;
    }
    // virsh prints the document libvirt formatted (ending in one newline) and a newline of its own
    t.equal(ours.xml, dump.stdout.replace(/\n$/, ''), `${file}: qbg's output is libvirt's net-dumpxml, byte for byte`);
    same++;
  }
  t.comment(`${same} networks written back as libvirt does; not of the macvtap family, refused: ${refused.join(', ') || 'none'}`);
  t.ok(same >= 12, `${same} compared`);
});
