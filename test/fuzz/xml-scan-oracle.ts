// The oracle of test/fuzz/xml-scan.test.ts: scanXmlDocument as it was before it read character codes (one sticky
// regular expression per tag, attribute and end tag; src/libvirt/xml-read.ts at 01dc452), kept verbatim but for
// the span, which it returns beside the tree. The fast scanner must give the same tree, the same spans and the
// same refusals (code and message, so the same line and column) for every input.
import { fieldError } from '../../src/domain/errors.js';
import { XML_LIMITS, type XmlLimits, type XmlNode, type XmlSpan } from '../../src/libvirt/xml-read.js';

const TEXT = '#text';
const COMMENT = '#comment';
const CDATA = '#cdata';
const ATTRS = ':@';

/** Size first (before any work), then what is refused whatever the parser: DOCTYPE and ENTITY declarations. */
function checkBeforeParsing(xml: string, field: string, limits: XmlLimits): void {
  const bytes = Buffer.byteLength(xml, 'utf8');
  if (bytes > limits.maxBytes) throw fieldError(field, 'QBG_ERR_XML_LIMIT', 'size', `${limits.maxBytes} bytes (got ${bytes})`);
  if (xml.includes('<!DOCTYPE') || xml.includes('<!ENTITY')) {
    throw fieldError(field, 'QBG_ERR_XML_SHAPE', `${field}: DOCTYPE and ENTITY declarations are refused (libvirt XML needs none; no entity is ever expanded)`);
  }
}

/**
 * The validator lets character references to non-characters through (&#x110000;); decodeEntities would then
 * throw a RangeError deep in a handler. XML 1.0 (WFC: Legal Character) says such a document is not well-formed.
 */
function checkCharacterReferences(xml: string, field: string): void {
  if (!xml.includes('&#')) return;
  for (const m of xml.matchAll(/&#(x[0-9a-fA-F]+|[0-9]+);/g)) {
    const cp = m[1][0] === 'x' ? parseInt(m[1].slice(1), 16) : Number(m[1]);
    if (!(cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff))) {
      throw fieldError(field, 'QBG_ERR_XML_PARSE', `character reference ${m[0].slice(0, 24)} is not a legal XML character`);
    }
  }
}

const NAME_START = 'A-Za-z_:\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF\\u200C\\u200D\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF\\uFDF0-\\uFFFD\\uD800-\\uDBFF';
const NAME = `[${NAME_START}][${NAME_START}\\-.0-9\\u00B7\\u0300-\\u036F\\u203F\\u2040\\uDC00-\\uDFFF]*`;
const START_TAG = new RegExp(`<(${NAME})`, 'y');
const ATTRIBUTE = new RegExp(`[ \\t\\r\\n]+(${NAME})[ \\t\\r\\n]*=[ \\t\\r\\n]*(?:"([^<"]*)"|'([^<']*)')`, 'y');
const TAG_END = /[ \t\r\n]*(\/?)>/y;
const END_TAG = new RegExp(`</(${NAME})[ \\t\\r\\n]*>`, 'y');
const PI_TARGET = new RegExp(`<\\?(${NAME})`, 'y');
const REFERENCE = /&(?:#[0-9]+|#x[0-9a-fA-F]+|amp|lt|gt|quot|apos);/y;
const ILLEGAL_CHAR = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const BLANK = /^[ \t\r\n]*$/;

export function oracleScan(xml: string, field = 'xml', limits: XmlLimits = XML_LIMITS): { nodes: XmlNode[]; spans: Map<XmlNode, XmlSpan> } {
  const spans = new Map<XmlNode, XmlSpan>();
  checkBeforeParsing(xml, field, limits);
  checkCharacterReferences(xml, field);
  const fail = (at: number, what: string): never => {
    const before = xml.slice(0, at);
    const line = before.split('\n').length;
    throw fieldError(field, 'QBG_ERR_XML_PARSE', `${what} (line ${line}, column ${at - before.lastIndexOf('\n')})`);
  };
  const illegal = ILLEGAL_CHAR.exec(xml);
  if (illegal) fail(illegal.index, `character U+${illegal[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} is not allowed in XML`);
  const checkReferences = (s: string, at: number): void => {
    for (let i = s.indexOf('&'); i !== -1; i = s.indexOf('&', i + 1)) {
      REFERENCE.lastIndex = i;
      if (!REFERENCE.test(s)) fail(at + i, "'&' must start &amp; &lt; &gt; &quot; &apos; or a character reference");
    }
  };

  const top: XmlNode[] = [];
  const stack: Array<{ name: string; kids: XmlNode[]; node: XmlNode }> = [];
  let kids = top;
  let nodes = 0;
  let roots = 0;
  const count = (): void => {
    if (++nodes > limits.maxNodes) throw fieldError(field, 'QBG_ERR_XML_LIMIT', 'node count', limits.maxNodes);
  };
  let i = xml.charCodeAt(0) === 0xfeff ? 1 : 0;
  const n = xml.length;
  while (i < n) {
    const lt = xml.indexOf('<', i);
    const textEnd = lt === -1 ? n : lt;
    if (textEnd > i) {
      const text = xml.slice(i, textEnd);
      if (stack.length === 0) {
        if (!BLANK.test(text)) fail(i, 'text outside the root element');
      } else {
        checkReferences(text, i);
        const cdataEnd = text.indexOf(']]>');
        if (cdataEnd !== -1) fail(i + cdataEnd, "']]>' is not allowed in text");
      }
      count();
      kids.push({ [TEXT]: text });
      i = textEnd;
      if (lt === -1) break;
    }
    const c = xml.charCodeAt(i + 1);
    if (c === 0x2f /* / */) {
      END_TAG.lastIndex = i;
      const m = END_TAG.exec(xml);
      if (!m) fail(i, 'malformed end tag');
      const open = stack.pop();
      if (!open) fail(i, `end tag </${m![1]}> without a start tag`);
      if (open!.name !== m![1]) fail(i, `expected </${open!.name}>, found </${m![1]}>`);
      const span = spans.get(open!.node)!;
      span.close = i;
      span.end = END_TAG.lastIndex;
      kids = stack.length ? stack[stack.length - 1].kids : top;
      i = END_TAG.lastIndex;
    } else if (c === 0x21 /* ! */) {
      if (xml.startsWith('<!--', i)) {
        const end = xml.indexOf('-->', i + 4);
        if (end === -1) fail(i, 'unterminated comment');
        const body = xml.slice(i + 4, end);
        if (body.includes('--') || body.endsWith('-')) fail(i, "'--' is not allowed inside a comment");
        count();
        kids.push({ [COMMENT]: [{ [TEXT]: body }] });
        i = end + 3;
      } else if (xml.startsWith('<![CDATA[', i) && stack.length) {
        const end = xml.indexOf(']]>', i + 9);
        if (end === -1) fail(i, 'unterminated CDATA section');
        count();
        kids.push({ [CDATA]: [{ [TEXT]: xml.slice(i + 9, end) }] });
        i = end + 3;
      } else fail(i, "unexpected '<!'");
    } else if (c === 0x3f /* ? */) {
      PI_TARGET.lastIndex = i;
      const m = PI_TARGET.exec(xml);
      const end = xml.indexOf('?>', i + 2);
      if (!m || end === -1) fail(i, 'malformed processing instruction');
      const target = m![1];
      const rest = xml.slice(PI_TARGET.lastIndex, end);
      if (rest !== '' && !/^[ \t\r\n]/.test(rest)) fail(i, 'malformed processing instruction');
      if (target.toLowerCase() === 'xml' && i !== (xml.charCodeAt(0) === 0xfeff ? 1 : 0)) fail(i, 'the XML declaration must come first');
      count();
      kids.push({ [`?${target}`]: [] });
      i = end + 2;
    } else {
      START_TAG.lastIndex = i;
      const m = START_TAG.exec(xml);
      if (!m) fail(i, "'<' must start a tag");
      const name = m![1];
      let at = START_TAG.lastIndex;
      let attrs: Record<string, string> | undefined;
      for (;;) {
        ATTRIBUTE.lastIndex = at;
        const a = ATTRIBUTE.exec(xml);
        if (!a) break;
        const value = a[2] ?? a[3];
        attrs ??= Object.create(null) as Record<string, string>;
        if (a[1] in attrs) fail(at, `attribute ${a[1]} given twice`);
        if (value.includes('&')) checkReferences(value, at);
        attrs[a[1]] = value;
        at = ATTRIBUTE.lastIndex;
      }
      TAG_END.lastIndex = at;
      const e = TAG_END.exec(xml);
      if (!e) fail(at, `malformed start tag <${name}> (attributes need a quoted value)`);
      if (stack.length === 0 && roots++ > 0) throw fieldError(field, 'QBG_ERR_XML_SHAPE', `${field}: a document needs exactly one root element`);
      if (stack.length + 1 > limits.maxDepth) throw fieldError(field, 'QBG_ERR_XML_LIMIT', 'nesting depth', `${limits.maxDepth} levels`);
      count();
      const children: XmlNode[] = [];
      const node: XmlNode = { [name]: children };
      if (attrs) node[ATTRS] = attrs;
      const span: XmlSpan = { start: i, end: TAG_END.lastIndex, close: -1 };
      spans.set(node, span);
      kids.push(node);
      i = TAG_END.lastIndex;
      if (e![1] !== '/') {
        stack.push({ name, kids: children, node });
        kids = children;
      }
    }
  }
  if (stack.length) fail(n, `unclosed <${stack[stack.length - 1].name}>`);
  if (roots === 0) fail(n, 'no root element');
  return { nodes: top, spans };
}
