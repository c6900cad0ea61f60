// Data-driven libvirt XML cases, one directory each under test/fixtures/libvirt/<case>/ (after libvirt's own
// tests/networkxml2xmlin): args.json says what to generate ({ kind, args }), input.xml / network-*.xml are inputs,
// expected.xml (or expected.json for merges) the exact output, expected-error.json { code, field } a refusal.
// Every XML qbg emits — and every valid input — is validated against libvirt's schema with virt-xml-validate.
// QBG_UPDATE_FIXTURES=1 writes missing expected files (review them before committing).
import t from 'tap';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isQbgError } from '../../src/domain/errors.js';
import { directInterfaceXml, networkInterfaceXml } from '../../src/libvirt/interface-xml.js';
import { vepaNetworkXml } from '../../src/libvirt/network-xml.js';
import { rewriteDomainXml } from '../../src/libvirt/domain-rewrite.js';
import { mergeInterfaceWithNetwork } from '../../src/libvirt/merge.js';
import { parseXmlDocument, rootElement } from '../../src/libvirt/xml-read.js';
import { fixtureTypes } from '../fixtures/libvirt/types.js';
import { virtXmlValidateMany, wrapInterfaceInDomain, type LibvirtSchema } from '../helpers/virt-xml-validate.js';

const ROOT = fileURLToPath(new URL('../fixtures/libvirt/', import.meta.url));
const UPDATE = process.env.QBG_UPDATE_FIXTURES === '1';
const types = fixtureTypes();

type Kind = 'interface' | 'interface-network' | 'network' | 'rewrite' | 'merge';
interface CaseSpec {
  kind: Kind;
  args?: Record<string, unknown>;
  /** what the case shows, for the reader */
  about?: string;
}

const read = (dir: string, f: string) => readFileSync(join(dir, f), 'utf8');

function networksOf(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir)) {
    const m = /^network-(.+)\.xml$/.exec(f);
    if (m) out[m[1]] = read(dir, f);
  }
  return out;
}

/** Run one case: the XML (or merge result) it produces. Throws what the code under test throws. */
function runCase(dir: string, spec: CaseSpec): { xml?: string; json?: unknown; schema?: LibvirtSchema } {
  const args = spec.args ?? {};
  switch (spec.kind) {
    case 'interface':
      return { xml: directInterfaceXml(types, args as never), schema: 'domain' };
    case 'interface-network':
      return { xml: networkInterfaceXml(types, args as never), schema: 'domain' };
    case 'network':
      return { xml: vepaNetworkXml(types, args as never), schema: 'network' };
    case 'rewrite': {
      const r = rewriteDomainXml(types, read(dir, 'input.xml'), { ...(args as object), networks: networksOf(dir) });
      return { xml: r.xml, json: r.changes, schema: 'domain' };
    }
    case 'merge': {
      const iface = rootElement(parseXmlDocument(read(dir, 'input.xml')));
      const merged = mergeInterfaceWithNetwork(iface, String(args.where ?? 'interface'), parseXmlDocument(read(dir, 'network.xml')));
      return { json: merged ?? null };
    }
  }
}

const cases = readdirSync(ROOT, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

t.ok(cases.length >= 20, `found ${cases.length} fixture cases`);

// Schema checks are collected and run in one batch at the end: each is a short xmllint process.
const toValidate: Array<{ name: string; xml: string; schema: LibvirtSchema }> = [];

for (const name of cases) {
  const dir = join(ROOT, name);
  const spec = JSON.parse(read(dir, 'args.json')) as CaseSpec;
  t.test(`${name} (${spec.kind})`, async (t) => {
    const errFile = join(dir, 'expected-error.json');
    if (existsSync(errFile)) {
      const want = JSON.parse(readFileSync(errFile, 'utf8')) as { code: string; field?: string; message?: string };
      let thrown: unknown;
      try {
        runCase(dir, spec);
      } catch (e) {
        thrown = e;
      }
      t.ok(isQbgError(thrown), `refused with a QbgError (got ${String(thrown)})`);
      if (isQbgError(thrown)) {
        t.equal(thrown.code, want.code, 'error code');
        if (want.field !== undefined) t.equal(thrown.field, want.field, 'error names the field');
        // message fragments the admin must see (e.g. both places of a merge conflict, the allowed range)
        for (const frag of want.message ? want.message.split('|') : []) t.match(thrown.message, frag, `message says "${frag}"`);
      }
      // inputs of refused cases are still valid libvirt XML when the refusal is qbg's own rule
      if (spec.kind === 'rewrite' && existsSync(join(dir, 'input-is-valid'))) {
        toValidate.push({ name: `${name}/input.xml`, xml: read(dir, 'input.xml'), schema: 'domain' });
      }
      return;
    }
    const got = runCase(dir, spec);
    if (got.xml !== undefined) {
      const file = join(dir, 'expected.xml');
      if (UPDATE && !existsSync(file)) writeFileSync(file, got.xml);
      t.equal(got.xml, read(dir, 'expected.xml'), 'XML as expected');
      const xml = spec.kind === 'interface' || spec.kind === 'interface-network' ? wrapInterfaceInDomain(got.xml) : got.xml;
      toValidate.push({ name: `${name} output`, xml, schema: got.schema! });
    }
    if (got.json !== undefined) {
      const file = join(dir, spec.kind === 'rewrite' ? 'expected-changes.json' : 'expected.json');
      if (UPDATE && !existsSync(file)) writeFileSync(file, JSON.stringify(got.json, null, 2) + '\n');
      t.same(got.json, JSON.parse(readFileSync(file, 'utf8')), 'result as expected');
    }
    if (spec.kind === 'rewrite') toValidate.push({ name: `${name}/input.xml`, xml: read(dir, 'input.xml'), schema: 'domain' });
    if (spec.kind === 'merge') {
      toValidate.push({ name: `${name}/input.xml`, xml: wrapInterfaceInDomain(read(dir, 'input.xml')), schema: 'domain' });
      toValidate.push({ name: `${name}/network.xml`, xml: read(dir, 'network.xml'), schema: 'network' });
    }
    for (const [net, xml] of Object.entries(networksOf(dir))) toValidate.push({ name: `${name}/network-${net}.xml`, xml, schema: 'network' });
  });
}

t.test('libvirt schema accepts every document qbg emits and every valid input', async (t) => {
  t.ok(toValidate.length >= 20, `${toValidate.length} documents to validate`);
  const results = await virtXmlValidateMany(toValidate);
  results.forEach((r, i) => t.ok(r.ok, `${toValidate[i].name} validates`, { output: r.output }));
});

t.test('the schema check can fail: an out-of-range managerid is refused by virt-xml-validate', async (t) => {
  const bad = read(join(ROOT, 'interface-direct-vepa'), 'expected.xml').replace('managerid="12"', 'managerid="256"');
  t.not(bad, read(join(ROOT, 'interface-direct-vepa'), 'expected.xml'), 'the document was altered');
  const [r] = await virtXmlValidateMany([{ xml: wrapInterfaceInDomain(bad), schema: 'domain' }]);
  t.notOk(r.ok, 'refused');
});
