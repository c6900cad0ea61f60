// The domain rewrite edits in place: every byte outside the edited <interface> elements is the input's (the
// README's promise: comments, order, quoting unchanged), and what it inserts follows the interface's own
// indentation. The scanner that locates the elements refuses what is not well-formed, like the parser it replaced.
import t from 'tap';
import { rewriteDomainXml } from '../../src/libvirt/domain-rewrite.js';
import { scanXmlDocument, spanOf, rootElement, childElements, firstChild, XML_LIMITS } from '../../src/libvirt/xml-read.js';
import { fixtureTypes } from '../fixtures/libvirt/types.js';

const types = fixtureTypes();

// Mixed quotes, odd spacing inside tags, entities, CDATA, comments and PIs everywhere, tabs, CRLF line ends, a
// second qbg NIC whose virtualport only lacks the instance id (completed), a non-qbg NIC between them.
const DOC =
  "<?xml version='1.0'?>\r\n<!-- head -->\r\n<?app keep this?>\r\n<domain type = \"kvm\" xmlns:x='urn:x'>\r\n" +
  "\t<name>a &amp; b &#x41;</name>\r\n\t<uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>\r\n" +
  "\t<description><![CDATA[ x < y ]]></description>\r\n" +
  "\t<metadata><q:nics xmlns:q=\"https://qbg.example/xmlns/1\"><q:nic profile='web-tier' mac=\"52:54:00:12:34:56\" />" +
  "<q:nic mac='52:54:00:12:34:58' profile='web-tier'/></q:nics></metadata>\r\n" +
  '\t<devices>\r\n' +
  "\t\t<interface type=\"direct\" >\r\n\t\t\t<!-- first -->\r\n\t\t\t<mac address='52:54:00:12:34:56'  />\r\n\t\t\t<source dev=\"eth0\" mode='vepa'/>\r\n\t\t</interface >\r\n" +
  "\t\t<interface type='bridge'><mac address=\"52:54:00:12:34:57\"/><source bridge='br0'></source></interface>\r\n" +
  "\t\t<interface type='direct'>\r\n\t\t\t<mac address=\"52:54:00:12:34:58\"/>\r\n\t\t\t<source dev='eth1' mode=\"vepa\"/>\r\n" +
  "\t\t\t<virtualport type='802.1Qbg'>\r\n\t\t\t\t<parameters managerid='12' typeid=\"1193047\" typeidversion='2'/>\r\n\t\t\t</virtualport>\r\n\t\t</interface>\r\n" +
  '\t\t<x:thing x:a="1" >text &lt;kept&gt;</x:thing>\r\n\t</devices>\r\n</domain>\r\n<!-- tail -->\r\n';

t.test('every byte outside the edited interfaces is the input', async (t) => {
  const r = rewriteDomainXml(types, DOC);
  t.same(r.changes.map((c) => [c.mac, c.action]), [['52:54:00:12:34:56', 'added'], ['52:54:00:12:34:58', 'completed']]);
  const ifaces = childElements(firstChild(rootElement(scanXmlDocument(DOC)), 'devices')!, 'interface').map((i) => spanOf(i)!);
  const out = r.xml;
  // before the first edited interface, between, and after: identical
  t.equal(out.slice(0, ifaces[0].start), DOC.slice(0, ifaces[0].start), 'head (prolog, PIs, comments, quoting) unchanged');
  const tail = DOC.slice(ifaces[2].end);
  t.ok(out.endsWith(tail), 'tail unchanged');
  t.ok(out.includes(DOC.slice(ifaces[0].end, ifaces[2].start)), 'the NIC qbg does not manage and the spacing around it unchanged');
  // the added virtualport: inserted before the closing indentation, the interface's own bytes kept around it
  const added = "\r\n\t\t\t<virtualport type='802.1Qbg'>\r\n\t\t\t\t<parameters managerid='12' typeid='1193047' typeidversion='2' instanceid='371fa9b9-8045-5cd2-9871-ffc3b2d10265'/>\r\n\t\t\t</virtualport>";
  const first = DOC.slice(ifaces[0].start, ifaces[0].end);
  const at = first.lastIndexOf('\r\n\t\t</interface >');
  t.equal(out.slice(ifaces[0].start, ifaces[0].end + added.length), first.slice(0, at) + added + first.slice(at), 'insertion only');
  t.equal(rewriteDomainXml(types, out).xml, out, 'a second rewrite changes nothing');
});

t.test('a document without qbg NICs, or with nothing to change, comes back as the same string', async (t) => {
  const once = rewriteDomainXml(types, DOC).xml;
  t.equal(rewriteDomainXml(types, once).xml, once);
  const plain = DOC.replace(/<metadata>[\s\S]*<\/metadata>/, '<metadata/>');
  t.equal(rewriteDomainXml(types, plain).xml, plain);
});

t.test('the scanner refuses what is not well-formed, with the catalogue codes', async (t) => {
  const parse: Array<[string, RegExp]> = [
    ['', /no root/],
    ['<!-- only a comment -->', /no root/],
    ['<domain><name>x</domain>', /expected <\/name>.*line 1/],
    ['<domain a=1/>', /quoted value/],
    ['<domain flag/>', /quoted value/],
    ['<domain a="1" a="2"/>', /twice/],
    ['<domain a="<"/>', /quoted value/],
    ['<domain>&foo;</domain>', /'&'/],
    ['<domain>a & b</domain>', /'&'/],
    ['<domain>]]></domain>', /']]>'/],
    ['<domain><!-- a -- b --></domain>', /'--'/],
    ['<domain>\u0001</domain>', /U\+0001/],
    ['<domain>\ud800</domain>', /U\+D800/],
    ['<domain a="&#0;"/>', /not a legal XML character/],
    ['<domain>\n<a>\n</b></domain>', /line 3/],
    ['text<domain/>', /outside the root/],
    ['<domain/>text', /outside the root/],
    ['<domain><![CDATA[x</domain>', /CDATA/],
    ['<domain></domain><?xml version="1.0"?>', /declaration must come first/],
    ['<domain><1a/></domain>', /'<' must start a tag/],
    ['<domain>', /unclosed <domain>/],
    ['</domain>', /without a start tag/],
    // the grammar's edges, where the character-code scanner decides by hand what the regex scanner's NAME did
    ['<domain b="1"c="2"/>', /quoted value.*column 14/],
    ['<domain/ >', /quoted value/],
    ['<ab></abc>', /expected <\/ab>, found <\/abc>/],
    ['<abc></ab>', /expected <\/abc>, found <\/ab>/],
    ['<\u00b7a/>', /'<' must start a tag/],
    ['<a \u00b7b="1"/>', /quoted value/],
    ['<a></ a>', /malformed end tag/],
    ['<?pi"x?><domain/>', /processing instruction/],
  ];
  for (const [xml, msg] of parse) t.throws(() => scanXmlDocument(xml, 'domain'), { code: 'QBG_ERR_XML_PARSE', field: 'domain', message: msg }, JSON.stringify(xml));
  t.throws(() => scanXmlDocument('<a/><b/>'), { code: 'QBG_ERR_XML_SHAPE' }, 'two roots');
  t.throws(() => scanXmlDocument('<!DOCTYPE d><d/>'), { code: 'QBG_ERR_XML_SHAPE' }, 'DOCTYPE');
  t.throws(() => scanXmlDocument('<a>'.repeat(XML_LIMITS.maxDepth + 1) + '</a>'.repeat(XML_LIMITS.maxDepth + 1)), { code: 'QBG_ERR_XML_LIMIT', message: /depth/ });
  t.doesNotThrow(() => scanXmlDocument('<a>'.repeat(XML_LIMITS.maxDepth) + '</a>'.repeat(XML_LIMITS.maxDepth)), 'exactly the depth limit');
  t.throws(() => scanXmlDocument('<a>' + '<b/>'.repeat(20) + '</a>', 'xml', { maxBytes: 1e6, maxDepth: 10, maxNodes: 10 }), { code: 'QBG_ERR_XML_LIMIT', message: /node count/ });
  t.throws(() => scanXmlDocument(`<a>${'x'.repeat(XML_LIMITS.maxBytes)}</a>`), { code: 'QBG_ERR_XML_LIMIT', message: /size/ });
  // and what is well-formed passes: BOM, names with dots/dashes/non-ASCII, astral characters, all five entities
  t.doesNotThrow(() => scanXmlDocument('\ufeff<?xml version="1.0"?><d-1.x é="&lt;&gt;&amp;&quot;&apos;&#65;&#x1F600;">😀<![CDATA[]]]]><e\t/></d-1.x>'));
  t.doesNotThrow(() => scanXmlDocument('<a\u00b7b \u00e9="1" \ud800\udc00:x="2" c\n=\n\'3\'\r\n><?pi\tdata?></a\u00b7b\t>'), 'non-ASCII and astral names, blanks around =');
});
