// Property: the character-code scanner (scanXmlDocument, src/libvirt/xml-read.ts) is the regex scanner it replaced
// (./xml-scan-oracle.ts) — for generated token soup, mutated libvirt domains and made-up names it gives the same
// tree with the same spans, or the same refusal (code, field and message, so line and column too), with the
// default limits and with tight ones.
import t from 'tap';
import fc from 'fast-check';
import { scanXmlDocument, spanOf, tagName, type XmlLimits, type XmlNode, type XmlSpan } from '../../src/libvirt/xml-read.js';
import { RUNS } from './arbitraries.js';
import { domainArb } from './domain-arbitrary.js';
import { oracleScan } from './xml-scan-oracle.js';

const TIGHT: XmlLimits = { maxBytes: 2048, maxDepth: 5, maxNodes: 40 };

/** The tree as comparable data: nodes as they are, each element with its span. */
function located(nodes: XmlNode[], span: (n: XmlNode) => XmlSpan | undefined): unknown[] {
  return nodes.map((n) => {
    const name = tagName(n);
    if (name === undefined) return n;
    const s = span(n);
    return { name, attrs: n[':@'] === undefined ? undefined : { ...(n[':@'] as object) }, span: s && [s.start, s.end, s.close], kids: located(n[name] as XmlNode[], span) };
  });
}

function outcome(f: () => unknown): unknown {
  try {
    return { tree: f() };
  } catch (e) {
    const err = e as { code?: string; field?: string; message: string };
    return { code: err.code ?? 'not a QbgError', field: err.field, message: err.message };
  }
}

function same(xml: string, limits?: XmlLimits): void {
  const fast = outcome(() => located(scanXmlDocument(xml, 'domain', limits), spanOf));
  const oracle = outcome(() => {
    const { nodes, spans } = oracleScan(xml, 'domain', limits);
    return located(nodes, (n) => spans.get(n));
  });
  const a = JSON.stringify(fast);
  const b = JSON.stringify(oracle);
  if (a !== b) throw new Error(`scanner and oracle differ on ${JSON.stringify(xml)}${limits ? ' (tight limits)' : ''}:\n  fast:   ${a.slice(0, 400)}\n  oracle: ${b.slice(0, 400)}`);
}

// the pieces XML is made of, and the characters at the edges of the grammar (name characters that may not start a
// name, astral names as surrogate pairs, a lone surrogate, blanks XML does not count as blanks)
const NAME_PIECES = ['a', 'Z', '_', ':', '-', '.', '0', '9', 'é', '·', '\u0300', '\u203f', '𐀀', '\ud800', '\udc00', 'x:y', 'ab', 'abc'];
const nameArb = fc.array(fc.constantFrom(...NAME_PIECES), { minLength: 1, maxLength: 4 }).map((p) => p.join(''));
const TOKENS = [
  '<', '>', '/', '/>', '</', '=', '"', "'", '&', ';', '?', '!', ' ', '\t', '\r\n', '\n', '\u00a0', '\u000b', '\u0000',
  '&amp;', '&lt;', '&#65;', '&#x1F600;', '&#0;', '&#xD800;', '&bogus;', '<!--', '-->', '--', '<![CDATA[', ']]>', ']]',
  '<?xml version="1.0"?>', '<?pi data?>', '<?', '?>', '<!DOCTYPE', 'text', '😀', '\ufeff', '\uffff',
];
const soupArb = fc.array(fc.oneof(fc.constantFrom(...TOKENS), nameArb, nameArb.map((n) => `<${n}>`), nameArb.map((n) => `</${n}>`), nameArb.map((n) => ` ${n}="v"`)), { maxLength: 30 });

t.test('token soup, bare and inside a root element: the same tree or the same refusal', async (t) => {
  await fc.assert(
    fc.property(soupArb, fc.boolean(), fc.boolean(), (tokens, wrap, tight) => {
      const body = tokens.join('');
      same(wrap ? `<r a='1'>${body}</r>` : body, tight ? TIGHT : undefined);
    }),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} token soups`);
});

t.test('well-formed documents with made-up element and attribute names (ASCII, non-ASCII, astral)', async (t) => {
  await fc.assert(
    fc.property(fc.array(fc.tuple(nameArb, nameArb, nameArb), { minLength: 1, maxLength: 8 }), fc.constantFrom(' ', '\t', '\r\n', '  '), (parts, blank) => {
      const inner = parts.map(([el, a, b]) => `<${el}${blank}${a}="1"${blank}${b}${blank}=${blank}'2'${blank}/><${el}>t</${el}${blank}>`).join('');
      same(`<root>${inner}</root>`);
      // and a closing tag one name off
      same(`<root><${parts[0][0]}></${parts[parts.length - 1][1]}></root>`);
    }),
    { numRuns: RUNS },
  );
  // processing instructions: a target, then a blank before any data, or nothing
  await fc.assert(
    fc.property(nameArb, fc.constantFrom('', ' ', '\t', '"', 'x', '?', '-', ' data', '"data'), fc.boolean(), (target, rest, first) => {
      const pi = `<?${target}${rest}?>`;
      same(first ? `${pi}<r/>` : `<r>${pi}</r>`);
    }),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} documents of made-up names`);
});

t.test('generated libvirt domains, whole and with one edit anywhere', async (t) => {
  await fc.assert(
    fc.property(domainArb, fc.nat(), fc.nat({ max: 8 }), fc.constantFrom(...TOKENS), fc.constantFrom('insert', 'delete', 'replace'), (d, at, count, token, op) => {
      same(d.xml);
      const i = at % (d.xml.length + 1);
      const edited = op === 'insert' ? d.xml.slice(0, i) + token + d.xml.slice(i) : op === 'delete' ? d.xml.slice(0, i) + d.xml.slice(i + count + 1) : d.xml.slice(0, i) + token + d.xml.slice(i + count + 1);
      same(edited);
      same(edited, TIGHT);
    }),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} domains and their edits`);
});

t.test('more distinct names than the scanner remembers: every tree still as the oracle has it', async (t) => {
  // the scanner keeps the names it has met in a bounded table whose slots names share: thousands of new names
  // replace each other over and over, and a remembered name must never stand in for another of its slot
  const many = (k: number, prefix: string) => Array.from({ length: k }, (_, i) => `<${prefix}${i.toString(36)} ${prefix}${i.toString(36)}="${i}"/>`).join('');
  for (const xml of [`<r>${many(3000, 'n')}</r>`, `<r>${many(40, 'q')}<q0></q1></r>`, `<r>${many(40, 'q')}<qz></qz></r>`, `<r>${many(5000, 'm')}${many(50, 'n')}</r>`]) {
    same(xml);
    same(xml); // a second time, with the names already met
  }
  t.pass('same trees');
});
