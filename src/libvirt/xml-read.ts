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
  const bytes = Buffer.byteLength(xml, 'utf8');
  if (bytes > limits.maxBytes) throw fieldError(field, 'QBG_ERR_XML_LIMIT', 'size', `${limits.maxBytes} bytes (got ${bytes})`);
  if (xml.includes('<!DOCTYPE') || xml.includes('<!ENTITY')) {
    throw fieldError(field, 'QBG_ERR_XML_SHAPE', `${field}: DOCTYPE and ENTITY declarations are refused (libvirt XML needs none; no entity is ever expanded)`);
  }
  const valid = XMLValidator.validate(xml, { allowBooleanAttributes: false });
  if (valid !== true) {
    const where = valid.err.col === undefined ? `line ${valid.err.line}` : `line ${valid.err.line}, column ${valid.err.col}`;
    throw fieldError(field, 'QBG_ERR_XML_PARSE', `${valid.err.msg} (${where})`);
  }
  // The validator lets character references to non-characters through (&#x110000;); decodeEntities would then
  // throw a RangeError deep in a handler. XML 1.0 (WFC: Legal Character) says such a document is not well-formed.
  for (const m of xml.matchAll(/&#(x[0-9a-fA-F]+|[0-9]+);/g)) {
    const cp = m[1][0] === 'x' ? parseInt(m[1].slice(1), 16) : Number(m[1]);
    if (!(cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff))) {
      throw fieldError(field, 'QBG_ERR_XML_PARSE', `character reference ${m[0].slice(0, 24)} is not a legal XML character`);
    }
  }
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
  return xml.split("='").length > xml.split('="').length ? "'" : '"';
}

/**
 * Write a parsed tree back. Text, comments, CDATA and attribute values are written exactly as read (entities were
 * never decoded); only the attribute quote is normalised to `quote`, escaping that character inside values.
 */
export function serializeXmlDocument(nodes: XmlNode[], quote: Quote = '"'): string {
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
  const out = write(nodes);
  return out.endsWith('\n') ? out : out + '\n';
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
