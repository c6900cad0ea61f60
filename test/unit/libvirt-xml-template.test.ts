// renderElement re-values one xmlbuilder2 tree per shape: the output must be what a fresh build gives, and no
// value of one call may show in another.
import t from 'tap';
import { create } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';
import { renderElement, type XmlElementSpec } from '../../src/libvirt/xml-template.js';

function freshBuild(e: XmlElementSpec): string {
  const add = (parent: XMLBuilder, s: XmlElementSpec): void => {
    const el = parent.ele(s.name, Object.fromEntries(s.attrs));
    for (const c of s.children ?? []) add(el, c);
  };
  const doc = create();
  add(doc, e);
  return doc.end({ prettyPrint: true, headless: true }) + '\n';
}

const nic = (mac: string, source: Array<[string, string]>, params?: Array<[string, string]>): XmlElementSpec => ({
  name: 'interface',
  attrs: [['type', 'network']],
  children: [
    { name: 'mac', attrs: [['address', mac]] },
    { name: 'source', attrs: source },
    ...(params ? [{ name: 'virtualport', attrs: [['type', '802.1Qbg']] as Array<[string, string]>, children: [{ name: 'parameters', attrs: params }] }] : []),
  ],
});

t.test('same text as a fresh xmlbuilder2 build, call after call, shape after shape', async (t) => {
  const specs = [
    nic('52:54:00:00:00:01', [['network', 'vepa'], ['portgroup', 'web']], [['managerid', '1'], ['typeid', '2'], ['typeidversion', '3'], ['instanceid', 'a']]),
    nic('52:54:00:00:00:02', [['network', 'vepa']]),
    nic('52:54:00:00:00:03', [['network', 'other'], ['portgroup', 'db']], [['managerid', '9']]),
    nic('52:54:00:00:00:04', [['network', 'vepa'], ['portgroup', 'web']], [['managerid', '7'], ['typeid', '8'], ['typeidversion', '9'], ['instanceid', 'b']]),
    nic('52:54:00:00:00:05', [['network', 'vepa']]),
  ];
  for (let round = 0; round < 2; round++) {
    for (const s of specs) t.equal(renderElement(s), freshBuild(s), `${s.children![0].attrs[0][1]} round ${round}`);
  }
});

t.test('values are escaped as xmlbuilder2 escapes them', async (t) => {
  const s = nic('a&b<c>"d\'', [['network', '&amp;']]);
  t.equal(renderElement(s), freshBuild(s));
  t.match(renderElement(s), /address="a&amp;b&lt;c&gt;&quot;d'"/);
});
