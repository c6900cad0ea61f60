// Property: for generated valid libvirt domains with qbg metadata (any quote style, indentation, prefixes, other
// namespaces, comments, escaped text), the rewrite adds exactly one virtualport per qbg NIC and nothing else:
// removing those virtualports gives back the input byte for byte (and an equivalent tree), and a second rewrite
// changes nothing.
import t from 'tap';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { buildServer } from '../../src/api/server.js';
import { xmlRoutes } from '../../src/api/xml-routes.js';
import { rewriteDomainXml } from '../../src/libvirt/domain-rewrite.js';
import { attributes, children, decodeEntities, parseXmlDocument, tagName, type XmlNode } from '../../src/libvirt/xml-read.js';
import { fixtureTypes } from '../fixtures/libvirt/types.js';
import { RUNS } from './arbitraries.js';

const app = await buildServer({ routes: [xmlRoutes({ types: fixtureTypes() })], logLevel: 'silent' });
t.teardown(() => app.close());

// --- valid generated domains: the rewrite adds virtualports and changes nothing else ---

const QBG_NS = 'https://qbg.example/xmlns/1';
const PROFILES = ['web-tier', 'db-tier', 'mgr2-byte'];

/** Escape for an attribute quoted with `q`, the way a tool would write it. */
const escAttr = (s: string, q: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(q === '"' ? /"/g : /'/g, q === '"' ? '&quot;' : '&apos;');
const escText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const xmlSafe = fc.string({ maxLength: 30, unit: fc.constantFrom('a', 'Z', '0', ' ', '&', '<', '>', '"', "'", 'é', '€', '😀', '-', ';', '#') });

const macArb = fc
  .uniqueArray(fc.integer({ min: 0, max: 0xffffff }), { minLength: 1, maxLength: 6 })
  .map((ns) => ns.map((n) => `52:54:00:${[n >> 16, (n >> 8) & 255, n & 255].map((x) => x.toString(16).padStart(2, '0')).join(':')}`));

interface GenNic {
  mac: string;
  type: 'direct' | 'network' | 'bridge';
  qbg?: { profile: string; version?: number };
}

const domainArb = fc
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

/** A comparable form of a tree: element names, decoded attributes, non-whitespace text, comments. */
function canonical(nodes: XmlNode[]): unknown[] {
  const out: unknown[] = [];
  for (const n of nodes) {
    const name = tagName(n);
    if (name === undefined) {
      if ('#text' in n) {
        const s = decodeEntities(String(n['#text']));
        if (s.trim() !== '') out.push(s);
      } else out.push(JSON.stringify(n));
      continue;
    }
    out.push({ name, attrs: attributes(n), kids: canonical(children(n)) });
  }
  return out;
}

/** Remove the <virtualport> children of the interfaces whose MAC is in `macs`. */
function dropVirtualports(nodes: XmlNode[], macs: Set<string>): void {
  for (const n of nodes) {
    if (tagName(n) === 'interface') {
      const kids = children(n);
      const mac = kids.find((k) => tagName(k) === 'mac');
      if (mac && macs.has(attributes(mac).address)) {
        const i = kids.findIndex((k) => tagName(k) === 'virtualport');
        if (i >= 0) kids.splice(i, 1);
      }
    }
    if (tagName(n) !== undefined) dropVirtualports(children(n), macs);
  }
}

t.test('valid generated domains: rewrite adds one virtualport per qbg NIC and leaves everything else equivalent', async (t) => {
  const types = fixtureTypes();
  await fc.assert(
    fc.asyncProperty(domainArb, fc.boolean(), async (d, viaHttp) => {
      const named = d.nics.filter((n) => n.qbg);
      let xml: string;
      let changes: Array<{ mac: string; action: string; virtualport: { instanceId: string } }>;
      if (viaHttp) {
        const r = await app.inject({ method: 'POST', url: '/xml/rewrite', payload: { xml: d.xml, ...(d.hasUuid ? {} : { vmUuid: d.vmUuid }) } });
        if (r.statusCode !== 200) throw new Error(`rewrite refused a valid domain: ${r.body}\n${d.xml}`);
        ({ xml, changes } = r.json());
      } else {
        ({ xml, changes } = rewriteDomainXml(types, d.xml, d.hasUuid ? {} : { vmUuid: d.vmUuid }));
      }
      if (changes.length !== named.length) throw new Error(`${changes.length} changes for ${named.length} qbg NICs`);
      if (changes.some((c) => c.action !== 'added')) throw new Error(`unexpected actions ${JSON.stringify(changes)}`);
      // edited in place: taking the inserted virtualports (each with the indentation put before it) out again gives
      // back the input byte for byte — quoting, spacing, comments and entities outside them untouched
      const without = xml.replace(/[ \t\r\n]*<virtualport type=(['"])802\.1Qbg\1>[\s\S]*?<\/virtualport>/g, '');
      if (without !== d.xml) throw new Error(`rewrite changed bytes outside the inserted virtualports:\n${d.xml}\n---\n${xml}`);
      const after = parseXmlDocument(xml);
      dropVirtualports(after, new Set(named.map((n) => n.mac)));
      const before = canonical(parseXmlDocument(d.xml));
      if (!isDeepStrictEqual(canonical(after), before)) throw new Error(`rewrite changed more than virtualports:\n${d.xml}\n---\n${xml}`);
      // and the added virtualports are there, one per named NIC, with the generated stable instance id
      for (const c of changes) if (!xml.includes(c.virtualport.instanceId)) throw new Error(`instance id ${c.virtualport.instanceId} missing`);
      // a second rewrite is a no-op: the document comes back byte for byte
      const again = rewriteDomainXml(types, xml, d.hasUuid ? {} : { vmUuid: d.vmUuid });
      if (again.xml !== xml || again.changes.some((c) => c.action !== 'unchanged')) throw new Error('second rewrite changed the document');
    }),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} generated domains`);
});
