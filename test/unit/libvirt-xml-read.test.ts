import t from 'tap';
import {
  attr,
  decodeEntities,
  dominantQuote,
  escapeAttribute,
  escapeXml,
  firstChild,
  parseXmlDocument,
  rootElement,
  serializeXmlDocument,
  setAttr,
  textContent,
  XML_LIMITS,
} from '../../src/libvirt/xml-read.js';

const DOC = `<?xml version="1.0"?>
<!-- a comment before the root -->
<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>a &amp; b &#x41;</name>
  <description><![CDATA[ x < y ]]></description>
  <?app some data?>
  <qemu:commandline><qemu:arg value='say "hi"'/></qemu:commandline>
  <empty></empty>
</domain>
<!-- trailing -->
`;

t.test('round trip keeps comments, CDATA, PIs, entities, namespaces and whitespace', async (t) => {
  const out = serializeXmlDocument(parseXmlDocument(DOC), "'");
  t.equal(out, DOC.replace('<?xml version="1.0"?>', "<?xml version='1.0'?>").replace("value='say \"hi\"'", "value='say \"hi\"'").replace('<empty></empty>', '<empty/>'));
});

t.test('values are decoded on read, escaped on write', async (t) => {
  const doc = parseXmlDocument(DOC);
  const root = rootElement(doc);
  t.equal(textContent(firstChild(root, 'name')!), 'a & b A');
  t.equal(textContent(firstChild(root, 'description')!), ' x < y ');
  setAttr(root, 'note', 'a<b & "c"');
  t.match(serializeXmlDocument(doc, '"'), `note="a&lt;b &amp; &quot;c&quot;"`);
  t.equal(attr(root, 'note'), 'a<b & "c"');
  t.equal(decodeEntities('&lt;&#65;&#x42;&apos;'), "<AB'");
});

t.test('quote style follows the document', async (t) => {
  t.equal(dominantQuote(`<a x='1' y='2' z="3"/>`), "'");
  t.equal(dominantQuote(`<a x="1"/>`), '"');
  t.equal(dominantQuote(`<a x='1'>="2" ="3"</a>`), '"', 'every =" counts, as before: in text too');
  t.equal(dominantQuote(`<a/>`), '"', 'a tie (none) is double');
  const out = serializeXmlDocument(parseXmlDocument(`<a x="it's"/>`), "'");
  t.equal(out, `<a x='it&apos;s'/>\n`, 'the chosen quote is escaped inside values');
});

t.test('DOCTYPE and entity declarations are refused, nothing expanded', async (t) => {
  const bomb = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>`;
  t.throws(() => parseXmlDocument(bomb), { code: 'QBG_ERR_XML_SHAPE', field: 'xml' });
  t.throws(() => parseXmlDocument(`<!DOCTYPE domain SYSTEM "file:///etc/passwd"><domain/>`, 'domain'), { code: 'QBG_ERR_XML_SHAPE', field: 'domain' });
});

t.test('not well-formed: line and column', async (t) => {
  t.throws(() => parseXmlDocument('<a>\n<b></a>'), { code: 'QBG_ERR_XML_PARSE', message: /line 2/ });
  t.throws(() => parseXmlDocument('<a x=1/>'), { code: 'QBG_ERR_XML_PARSE' });
  t.throws(() => parseXmlDocument('<a flag/>'), { code: 'QBG_ERR_XML_PARSE' }, 'attributes need values');
  t.throws(() => parseXmlDocument(''), { code: 'QBG_ERR_XML_PARSE', message: /line 1\)/ });
  t.throws(() => parseXmlDocument('<!-- only a comment -->'), { code: 'QBG_ERR_XML_PARSE' });
  t.throws(() => parseXmlDocument('<a/><b/>'), { code: 'QBG_ERR_XML_SHAPE' }, 'two roots');
});

t.test('limits: size, depth, node count', async (t) => {
  const big = `<a>${'x'.repeat(XML_LIMITS.maxBytes)}</a>`;
  t.throws(() => parseXmlDocument(big), { code: 'QBG_ERR_XML_LIMIT', message: /size/ });
  const deep = '<a>'.repeat(XML_LIMITS.maxDepth + 1) + '</a>'.repeat(XML_LIMITS.maxDepth + 1);
  t.throws(() => parseXmlDocument(deep), { code: 'QBG_ERR_XML_LIMIT', message: /depth/ });
  const ok = '<a>'.repeat(XML_LIMITS.maxDepth) + '</a>'.repeat(XML_LIMITS.maxDepth);
  t.doesNotThrow(() => parseXmlDocument(ok), 'exactly the limit is fine');
  t.throws(() => parseXmlDocument('<a>' + '<b/>'.repeat(20) + '</a>', 'xml', { maxBytes: 1e6, maxDepth: 10, maxNodes: 10 }), {
    code: 'QBG_ERR_XML_LIMIT',
    message: /node count/,
  });
});

t.test('escapeXml replaces & < > " (and only those); escapeAttribute also the document quote', async (t) => {
  t.equal(escapeXml('1193047'), '1193047');
  t.equal(escapeXml('4dea22b3-1d52-d8f3-2516-782e98ab3fa0'), '4dea22b3-1d52-d8f3-2516-782e98ab3fa0');
  for (const [c, e] of [['&', '&amp;'], ['<', '&lt;'], ['>', '&gt;'], ['"', '&quot;']]) {
    t.equal(escapeXml(c), e);
    t.equal(escapeXml(`x${c}y${c}`), `x${e}y${e}`, `${c} anywhere, every one`);
  }
  t.equal(escapeXml(`it's`), `it's`);
  t.equal(escapeAttribute(`it's "a" & b`, "'"), 'it&apos;s &quot;a&quot; &amp; b');
  t.equal(escapeAttribute(`it's "a"`, '"'), `it's &quot;a&quot;`);
});
