// Generated libvirt domains with qbg metadata (any quote style, indentation, namespace prefix, other metadata,
// comments, escaped text): the inputs of the rewrite fuzz property (./xml-rewrite.test.ts), and of the libvirt lab
// test that has a real libvirtd define a seeded sample of the rewrite's outputs (test/lab/libvirt-fuzz-define.test.ts).
import fc from 'fast-check';

const QBG_NS = 'https://qbg.example/xmlns/1';
const PROFILES = ['web-tier', 'db-tier', 'mgr2-byte'];

/** Escape for an attribute quoted with `q`, the way a tool would write it. */
const escAttr = (s: string, q: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(q === '"' ? /"/g : /'/g, q === '"' ? '&quot;' : '&apos;');
const escText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const xmlSafe = fc.string({ maxLength: 30, unit: fc.constantFrom('a', 'Z', '0', ' ', '&', '<', '>', '"', "'", 'é', '€', '😀', '-', ';', '#') });

const macArb = fc
  .uniqueArray(fc.integer({ min: 0, max: 0xffffff }), { minLength: 1, maxLength: 6 })
  .map((ns) => ns.map((n) => `52:54:00:${[n >> 16, (n >> 8) & 255, n & 255].map((x) => x.toString(16).padStart(2, '0')).join(':')}`));

export interface GenNic {
  mac: string;
  type: 'direct' | 'network' | 'bridge';
  qbg?: { profile: string; version?: number };
}

export const domainArb = fc
  .record({
    quote: fc.constantFrom('"', "'"),
    indent: fc.constantFrom('', '  ', '\t'),
    name: xmlSafe,
    title: xmlSafe,
    uuid: fc.option(fc.uuid(), { nil: undefined }),
    otherMeta: fc.option(fc.tuple(fc.constantFrom('app', 'x', 'qbg2'), xmlSafe), { nil: undefined }),
    comment: fc.option(fc.string({ maxLength: 20, unit: fc.constantFrom('a', ' ', '<', '&', 'é') }), { nil: undefined }),
    macs: macArb,
    kinds: fc.array(fc.tuple(fc.constantFrom('direct' as const, 'network' as const, 'bridge' as const), fc.boolean(), fc.constantFrom(...PROFILES)), { minLength: 6, maxLength: 6 }),
    prefix: fc.constantFrom('qbg', 'q', 'vepa'),
    vmUuid: fc.uuid(),
  })
  .map((g) => {
    const nics: GenNic[] = g.macs.map((mac, i) => {
      const [type, named, profile] = g.kinds[i];
      // only direct/network NICs can carry a 802.1Qbg virtualport; make sure at least one NIC is named
      const isQbg = type !== 'bridge' && (named || i === 0);
      return { mac, type, ...(isQbg ? { qbg: { profile } } : {}) };
    });
    if (!nics.some((n) => n.qbg)) nics[0] = { mac: nics[0].mac, type: 'direct', qbg: { profile: 'web-tier' } };
    const q = g.quote;
    const nl = g.indent ? '\n' : '';
    const i1 = nl + g.indent;
    const i2 = i1 + g.indent;
    const i3 = i2 + g.indent;
    const a = (k: string, v: string) => ` ${k}=${q}${escAttr(v, q)}${q}`;
    const p = g.prefix;
    const meta =
      `${i1}<metadata>` +
      (g.otherMeta ? `${i2}<${g.otherMeta[0]}:owner${a(`xmlns:${g.otherMeta[0]}`, 'https://example.org/app/1')}${a('k', g.otherMeta[1])}>${escText(g.otherMeta[1])}</${g.otherMeta[0]}:owner>` : '') +
      `${i2}<${p}:nics${a(`xmlns:${p}`, QBG_NS)}>` +
      nics
        .filter((n) => n.qbg)
        .map((n) => `${i3}<${p}:nic${a('mac', n.mac)}${a('profile', n.qbg!.profile)}/>`)
        .join('') +
      `${i2}</${p}:nics>${i1}</metadata>`;
    const nicXml = (n: GenNic) => {
      const src = n.type === 'direct' ? `<source${a('dev', 'eth0')}${a('mode', 'vepa')}/>` : n.type === 'network' ? `<source${a('network', 'vepa-net')}/>` : `<source${a('bridge', 'br0')}/>`;
      return `${i2}<interface${a('type', n.type)}>${i3}<mac${a('address', n.mac)}/>${i3}${src}${i3}<model${a('type', 'virtio')}/>${i2}</interface>`;
    };
    const xml =
      (g.comment !== undefined ? `<!--${g.comment.replace(/-/g, '')}-->\n` : '') +
      `<domain${a('type', 'kvm')}>` +
      `${i1}<name>${escText(g.name)}</name>` +
      (g.uuid ? `${i1}<uuid>${g.uuid}</uuid>` : '') +
      `${i1}<title${a('note', g.title)}>${escText(g.title)}</title>` +
      meta +
      `${i1}<devices>${i2}<disk${a('type', 'file')}><source${a('file', '/var/lib/x.qcow2')}/></disk>` +
      nics.map(nicXml).join('') +
      `${i1}</devices>${nl}</domain>${nl}`;
    return { xml, nics, vmUuid: g.uuid ?? g.vmUuid, hasUuid: g.uuid !== undefined };
  });

