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
import { domainArb } from './domain-arbitrary.js';

const app = await buildServer({ routes: [xmlRoutes({ types: fixtureTypes() })], logLevel: 'silent' });
t.teardown(() => app.close());

// --- valid generated domains (./domain-arbitrary.ts): the rewrite adds virtualports and changes nothing else ---

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
