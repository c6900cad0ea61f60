// Reading libvirt XML safely and losslessly. fast-xml-parser in preserveOrder mode keeps every node in document
// order (comments, CDATA, other namespaces, whitespace text); entities are NOT processed, so text and attribute
// values stay exactly as written and nothing is ever expanded. A DOCTYPE is refused outright: libvirt never needs
// one, and refusing it closes the door on entity-expansion attacks ("billion laughs") and external entities.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { fieldError } from '../domain/errors.js';

/** One node of fast-xml-parser's preserveOrder tree: `{ tag: children[], ':@'?: attrs }`, `{ '#text': s }`, … */
export type XmlNode = Record<string, unknown>;

export interface XmlLimits {
  /** bytes of UTF-8 */
  maxBytes: number;
  /** element nesting; a libvirt domain is about 6 deep, metadata of other tools a few more */
  maxDepth: number;
  /** elements + text + comments */
  maxNodes: number;
}

export const XML_LIMITS: XmlLimits = { maxBytes: 512 * 1024, maxDepth: 48, maxNodes: 50_000 };

const TEXT = '#text';
const COMMENT = '#comment';
const CDATA = '#cdata';
const ATTRS = ':@';

const OPTIONS = {
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  commentPropName: COMMENT,
  cdataPropName: CDATA,
  trimValues: false,
  processEntities: false,
  htmlEntities: false,
  parseTagValue: false,
  parseAttributeValue: false,
  ignorePiTags: false,
  // only so a processing instruction's free-form data survives (as bare names); the validator below still
  // refuses attributes without values on elements
  allowBooleanAttributes: true,
} as const;

const parser = new XMLParser(OPTIONS);

/**
 * Parse a whole document within limits. Errors: QBG_ERR_XML_LIMIT (size, depth, node count), QBG_ERR_XML_PARSE
 * (not well-formed, with line and column), QBG_ERR_XML_SHAPE (DOCTYPE/ENTITY, no root element).
 */
export function parseXmlDocument(xml: string, field = 'xml', limits: XmlLimits = XML_LIMITS): XmlNode[] {
  checkBeforeParsing(xml, field, limits);
  const valid = XMLValidator.validate(xml, { allowBooleanAttributes: false });
  if (valid !== true) {
    const where = valid.err.col === undefined ? `line ${valid.err.line}` : `line ${valid.err.line}, column ${valid.err.col}`;
    throw fieldError(field, 'QBG_ERR_XML_PARSE', `${valid.err.msg} (${where})`);
  }
  checkCharacterReferences(xml, field);
  let nodes: XmlNode[];
  try {
    nodes = parser.parse(xml) as XmlNode[];
  } catch (e) {
    // fast-xml-parser stops at its own nesting cap (maxNestedTags, 100) before checkShape can count the depth
    if (/nested/i.test((e as Error).message)) throw fieldError(field, 'QBG_ERR_XML_LIMIT', 'nesting depth', `${limits.maxDepth} levels`);
    throw fieldError(field, 'QBG_ERR_XML_PARSE', (e as Error).message);
  }
  checkShape(nodes, field, limits);
  keepTopLevelLineBreaks(nodes);
  return nodes;
}

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

function checkShape(nodes: XmlNode[], field: string, limits: XmlLimits): void {
  // explicit stack: a hostile document must not be able to overflow ours
  const stack: Array<[XmlNode[], number]> = [[nodes, 1]];
  let count = 0;
  while (stack.length) {
    const [list, depth] = stack.pop()!;
    for (const n of list) {
      if (++count > limits.maxNodes) throw fieldError(field, 'QBG_ERR_XML_LIMIT', 'node count', limits.maxNodes);
      const name = tagName(n);
      if (name === undefined) continue;
      if (depth > limits.maxDepth) throw fieldError(field, 'QBG_ERR_XML_LIMIT', 'nesting depth', `${limits.maxDepth} levels`);
      stack.push([children(n), depth + 1]);
    }
  }
  const roots = nodes.filter((n) => tagName(n) !== undefined && !tagName(n)!.startsWith('?'));
  if (roots.length !== 1) throw fieldError(field, 'QBG_ERR_XML_SHAPE', `${field}: a document needs exactly one root element`);
}

/** fast-xml-parser drops the line break between a top-level comment and the root element; put one back. */
function keepTopLevelLineBreaks(nodes: XmlNode[]): void {
  for (let i = nodes.length - 1; i > 0; i--) {
    if (!(TEXT in nodes[i]) && !(TEXT in nodes[i - 1])) nodes.splice(i, 0, { [TEXT]: '\n' });
  }
}

export type Quote = "'" | '"';

/**
 * The quote most attributes of a document use. libvirt writes single quotes (virsh dumpxml), so a hook's input
 * usually has them; writing the document back in its own style keeps the diff down to what qbg changed.
 */
export function dominantQuote(xml: string): Quote {
  return occurrences(xml, "='") > occurrences(xml, '="') ? "'" : '"';
}

function occurrences(s: string, of: string): number {
  let n = 0;
  for (let i = s.indexOf(of); i !== -1; i = s.indexOf(of, i + of.length)) n++;
  return n;
}

/**
 * Write a parsed tree back. Text, comments, CDATA and attribute values are written exactly as read (entities were
 * never decoded); only the attribute quote is normalised to `quote`, escaping that character inside values.
 */
export function serializeXmlDocument(nodes: XmlNode[], quote: Quote = '"'): string {
  const out = serializeXmlNodes(nodes, quote);
  return out.endsWith('\n') ? out : out + '\n';
}

/** Write nodes (a document or a subtree) back the same way, without adding a final newline. */
export function serializeXmlNodes(nodes: XmlNode[], quote: Quote = '"'): string {
  const esc = quote === "'" ? '&apos;' : '&quot;';
  const attrsOf = (n: XmlNode) =>
    Object.entries(rawAttributes(n))
      .map(([k, v]) => (v === (true as unknown) ? ` ${k}` : ` ${k}=${quote}${String(v).split(quote).join(esc)}${quote}`))
      .join('');
  const write = (list: XmlNode[]): string =>
    list
      .map((n) => {
        if (TEXT in n) return String(n[TEXT]);
        if (COMMENT in n) return `<!--${(n[COMMENT] as XmlNode[]).map((c) => String(c[TEXT] ?? '')).join('')}-->`;
        if (CDATA in n) return `<![CDATA[${(n[CDATA] as XmlNode[]).map((c) => String(c[TEXT] ?? '')).join('')}]]>`;
        const name = tagName(n)!;
        if (name.startsWith('?')) return `<${name}${attrsOf(n)}?>`;
        const kids = children(n);
        return kids.length === 0 ? `<${name}${attrsOf(n)}/>` : `<${name}${attrsOf(n)}>${write(kids)}</${name}>`;
      })
      .join('');
  return write(nodes);
}

/** Element name (with prefix), or undefined for text, comment and CDATA nodes. PIs start with '?'. */
export function tagName(n: XmlNode): string | undefined {
  for (const k of Object.keys(n)) if (k !== ATTRS && k !== TEXT && k !== COMMENT && k !== CDATA) return k;
  return undefined;
}

export function children(n: XmlNode): XmlNode[] {
  const name = tagName(n);
  return name === undefined ? [] : ((n[name] as XmlNode[] | undefined) ?? []);
}

export function isElement(n: XmlNode, name?: string): boolean {
  const t = tagName(n);
  return t !== undefined && !t.startsWith('?') && (name === undefined || t === name);
}

export function childElements(n: XmlNode, name?: string): XmlNode[] {
  return children(n).filter((c) => isElement(c, name));
}

export function firstChild(n: XmlNode, name: string): XmlNode | undefined {
  return children(n).find((c) => isElement(c, name));
}

export function rootElement(nodes: XmlNode[]): XmlNode {
  return nodes.find((n) => isElement(n))!;
}

function rawAttributes(n: XmlNode): Record<string, string> {
  return (n[ATTRS] as Record<string, string> | undefined) ?? {};
}

/** All attributes, entity-decoded. */
export function attributes(n: XmlNode): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(rawAttributes(n))) out[k] = decodeEntities(String(v));
  return out;
}

export function attr(n: XmlNode, name: string): string | undefined {
  const v = rawAttributes(n)[name];
  return v === undefined ? undefined : decodeEntities(String(v));
}

/** Set (or add, at the end, as libvirt would not care about attribute order) one attribute. */
export function setAttr(n: XmlNode, name: string, value: string): void {
  n[ATTRS] = { ...rawAttributes(n), [name]: escapeXml(value) };
}

/** The decoded character content of an element (text and CDATA, not of its children). */
export function textContent(n: XmlNode): string {
  return children(n)
    .map((c) => (TEXT in c ? decodeEntities(String(c[TEXT])) : CDATA in c ? (c[CDATA] as XmlNode[]).map((t) => String(t[TEXT] ?? '')).join('') : ''))
    .join('');
}

/** A new element node in the tree's own form; attribute values are escaped here. */
export function element(name: string, attrs: Array<[string, string]> = [], kids: XmlNode[] = []): XmlNode {
  const node: XmlNode = { [name]: kids };
  if (attrs.length) node[ATTRS] = Object.fromEntries(attrs.map(([k, v]) => [k, escapeXml(v)]));
  return node;
}

export function textNode(s: string): XmlNode {
  return { [TEXT]: s };
}

/** Whitespace-only text (indentation) as written in the document, or undefined. */
export function whitespaceOf(n: XmlNode): string | undefined {
  if (!(TEXT in n)) return undefined;
  const s = String(n[TEXT]);
  return s.trim() === '' ? s : undefined;
}

/**
 * The namespace URI an element's prefix is bound to, looking at the element and then its ancestors (innermost
 * first). qbg matches its metadata by URI, never by prefix: any prefix an admin or a tool picks is fine.
 */
export function namespaceOf(n: XmlNode, ancestors: XmlNode[]): string | undefined {
  const name = tagName(n) ?? '';
  const colon = name.indexOf(':');
  const decl = colon === -1 ? 'xmlns' : `xmlns:${name.slice(0, colon)}`;
  for (const e of [n, ...[...ancestors].reverse()]) {
    const v = attr(e, decl);
    if (v !== undefined) return v;
  }
  return undefined;
}

export function localName(n: XmlNode): string {
  const name = tagName(n) ?? '';
  return name.slice(name.indexOf(':') + 1);
}

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Character and predefined entity references only: with no DOCTYPE there can be no others. */
export function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_, ref: string) =>
    ref[0] === '#' ? String.fromCodePoint(ref[1] === 'x' ? parseInt(ref.slice(2), 16) : Number(ref.slice(1))) : PREDEFINED[ref],
  );
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** An attribute value escaped for writing between `quote`s (what escapeXml leaves of it, and that quote). */
export function escapeAttribute(s: string, quote: Quote): string {
  const e = escapeXml(s);
  return quote === "'" ? e.replace(/'/g, '&apos;') : e;
}

// ---- Located parsing: the domain rewrite edits the document in place ------------------------------------------------
//
// scanXmlDocument checks well-formedness itself (XML 1.0 without a DTD: names, attributes quoted and unique, only
// the five predefined entities and legal character references, comments without "--", one root, balanced tags,
// legal characters) in one pass of sticky regular expressions, and builds the same tree as parseXmlDocument with
// each element's place in the text. fast-xml-parser's validate + parse took ~60 % of a rewrite; this is a few
// times faster, and lets the rewrite splice its changes into the original text so every other byte stays.

/** Where an element is in the text it was scanned from: [start, end) and the offset of its end tag (-1: `<a/>`). */
export interface XmlSpan {
  start: number;
  end: number;
  close: number;
}

const SPAN = Symbol('span');

export function spanOf(n: XmlNode): XmlSpan | undefined {
  return (n as { [SPAN]?: XmlSpan })[SPAN];
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

/** Parse within limits, keeping each element's place. Errors as parseXmlDocument's. */
export function scanXmlDocument(xml: string, field = 'xml', limits: XmlLimits = XML_LIMITS): XmlNode[] {
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
      const span = spanOf(open!.node)!;
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
      (node as { [SPAN]?: XmlSpan })[SPAN] = span;
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
  return top;
}
