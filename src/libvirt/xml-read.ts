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
  // a UTF-16 code unit is at most 3 bytes of UTF-8: most documents need no count
  if (xml.length * 3 > limits.maxBytes) {
    const bytes = Buffer.byteLength(xml, 'utf8');
    if (bytes > limits.maxBytes) throw fieldError(field, 'QBG_ERR_XML_LIMIT', 'size', `${limits.maxBytes} bytes (got ${bytes})`);
  }
  if (hasDeclaration(xml)) {
    throw fieldError(field, 'QBG_ERR_XML_SHAPE', `${field}: DOCTYPE and ENTITY declarations are refused (libvirt XML needs none; no entity is ever expanded)`);
  }
}

/** Whether `<!DOCTYPE` or `<!ENTITY` occurs anywhere: one pass over the '<!' (a comment, CDATA) of the document. */
function hasDeclaration(xml: string): boolean {
  for (let i = xml.indexOf('<!'); i !== -1; i = xml.indexOf('<!', i + 2)) {
    if (xml.startsWith('DOCTYPE', i + 2) || xml.startsWith('ENTITY', i + 2)) return true;
  }
  return false;
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
  // how often =' and =" occur, in one pass
  let single = 0;
  let double = 0;
  for (let i = xml.indexOf('='); i !== -1; i = xml.indexOf('=', i + 1)) {
    const c = xml.charCodeAt(i + 1);
    if (c === 0x27) single++;
    else if (c === 0x22) double++;
  }
  return single > double ? "'" : '"';
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
  // for…in, not Object.keys: no array per call (the tree is walked by name all the time); nodes are plain objects
  for (const k in n) if (k !== ATTRS && k !== TEXT && k !== COMMENT && k !== CDATA) return k;
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

/** A name an element can have: not a key of the node form ('#text', ':@', …), not a processing instruction's. */
function isElementName(name: string): boolean {
  return name !== ATTRS && name !== TEXT && name !== COMMENT && name !== CDATA && name.charCodeAt(0) !== 0x3f;
}

const hasOwn = Object.prototype.hasOwnProperty;

export function childElements(n: XmlNode, name?: string): XmlNode[] {
  if (name === undefined) return children(n).filter((c) => isElement(c));
  const out: XmlNode[] = [];
  if (!isElementName(name)) return out;
  // a node's one other key is its name: asking for that key is asking for the name, without listing the keys
  for (const c of children(n)) if (hasOwn.call(c, name)) out.push(c);
  return out;
}

export function firstChild(n: XmlNode, name: string): XmlNode | undefined {
  if (!isElementName(name)) return undefined;
  for (const c of children(n)) if (hasOwn.call(c, name)) return c;
  return undefined;
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
  const raw = rawAttributes(n);
  for (const k in raw) out[k] = decodeEntities(String(raw[k]));
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
  return { '#text': s }; // TEXT, as a literal key: V8 builds this object from a boilerplate
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
  const own = attr(n, decl);
  if (own !== undefined) return own;
  for (let i = ancestors.length - 1; i >= 0; i--) {
    const v = attr(ancestors[i], decl);
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
  if (!needsEscape(s)) return s;
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Whether s has a character escapeXml replaces (a loop: most values are short numbers and UUIDs). */
function needsEscape(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x26 || c === 0x3c || c === 0x3e || c === 0x22) return true;
  }
  return false;
}

/** An attribute value escaped for writing between `quote`s (what escapeXml leaves of it, and that quote). */
export function escapeAttribute(s: string, quote: Quote): string {
  const e = escapeXml(s);
  return quote === "'" && e.includes("'") ? e.replace(/'/g, '&apos;') : e;
}

// ---- Located parsing: the domain rewrite edits the document in place ------------------------------------------------
//
// scanXmlDocument checks well-formedness itself (XML 1.0 without a DTD: names, attributes quoted and unique, only
// the five predefined entities and legal character references, comments without "--", one root, balanced tags,
// legal characters) in one pass over the text, and builds the same tree as parseXmlDocument with each element's
// place in the text. fast-xml-parser's validate + parse took ~60 % of a rewrite; this is many times faster, and
// lets the rewrite splice its changes into the original text so every other byte stays. The pass reads character
// codes: a sticky regular expression per tag and attribute (and the match arrays they return) cost more than
// everything else the rewrite does; names with non-ASCII characters go to the full NAME expression.

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
const NAME_AT = new RegExp(NAME, 'y');
const REFERENCE = /&(?:#[0-9]+|#x[0-9a-fA-F]+|amp|lt|gt|quot|apos);/y;
const ILLEGAL_CHAR = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * The prototype of a scanned element's attributes: nothing inherited, so an attribute may be called "constructor"
 * or "__proto__". Object.create(null) would do that too, but makes a dictionary-mode object, three times slower to
 * build, test and walk than an object made from a (frozen, empty) prototype.
 */
const NO_PROPERTIES = Object.freeze(Object.create(null) as object);

const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const BANG = 0x21;
const QUESTION = 0x3f;
const EQUALS = 0x3d;
const DQUOTE = 0x22;
const SQUOTE = 0x27;

/** XML's S: space, tab, CR, LF (NaN past the end is not). */
function isBlank(c: number): boolean {
  return c <= 0x20 && (c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d);
}

/** The end of the XML name that starts at i; i when none does. ASCII by hand, anything else by NAME. */
function nameEnd(xml: string, i: number): number {
  let c = xml.charCodeAt(i);
  if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x3a)) return c >= 0x80 ? nameEndFull(xml, i) : i;
  for (let j = i + 1; ; j++) {
    c = xml.charCodeAt(j);
    // a-z A-Z 0-9 : _ - .
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x3a) || c === 0x5f || c === 0x2d || c === 0x2e) continue;
    return c >= 0x80 ? nameEndFull(xml, i) : j;
  }
}

function nameEndFull(xml: string, i: number): number {
  NAME_AT.lastIndex = i;
  return NAME_AT.test(xml) ? NAME_AT.lastIndex : i;
}

/**
 * The names met so far, in a direct-mapped table (slot by length and three characters). A name sliced out of the
 * text is a new string each time, and a new string as a property key must first be looked up in V8's string table:
 * that lookup, for every element and attribute name, was a third of the scan. A document repeats a few dozen names
 * (libvirt's vocabulary), so the scan takes the string it already has. Bounded by construction: names that share a
 * slot replace each other, and a name is only ever taken after comparing it with the text.
 */
const knownNames: Array<string | undefined> = new Array<string | undefined>(1024).fill(undefined);

/** xml.slice(start, end), the same string as last time when this name was seen before. */
function nameAt(xml: string, start: number, end: number): string {
  const length = end - start;
  const slot = ((length * 0x9e3) ^ (xml.charCodeAt(start) << 3) ^ (xml.charCodeAt(end - 1) * 0x2f) ^ (xml.charCodeAt(start + (length >> 1)) << 6)) & 1023;
  const known = knownNames[slot];
  if (known !== undefined && known.length === length && sameText(known, xml, start)) return known;
  const name = xml.slice(start, end);
  knownNames[slot] = name;
  return name;
}

/** name === xml.slice(at, at + name.length), compared in place (names are short: a loop beats the call). */
function sameText(name: string, xml: string, at: number): boolean {
  for (let k = name.length - 1; k >= 0; k--) if (name.charCodeAt(k) !== xml.charCodeAt(at + k)) return false;
  return true;
}

function indexOrEnd(xml: string, of: string, from: number): number {
  const at = xml.indexOf(of, from);
  return at === -1 ? xml.length : at;
}

function skipBlanks(xml: string, i: number): number {
  while (isBlank(xml.charCodeAt(i))) i++;
  return i;
}

/** QBG_ERR_XML_PARSE naming the line and column of offset `at`. */
function notWellFormed(xml: string, field: string, at: number, what: string): never {
  const before = xml.slice(0, at);
  const line = before.split('\n').length;
  throw fieldError(field, 'QBG_ERR_XML_PARSE', `${what} (line ${line}, column ${at - before.lastIndexOf('\n')})`);
}

/** Every '&' of s (found at offset `at` of xml) starts one of the five entity references or a character reference. */
function checkReferences(xml: string, field: string, s: string, at: number): void {
  for (let i = s.indexOf('&'); i !== -1; i = s.indexOf('&', i + 1)) {
    REFERENCE.lastIndex = i;
    if (!REFERENCE.test(s)) notWellFormed(xml, field, at + i, "'&' must start &amp; &lt; &gt; &quot; &apos; or a character reference");
  }
}

/** Parse within limits, keeping each element's place. Errors as parseXmlDocument's. */
export function scanXmlDocument(xml: string, field = 'xml', limits: XmlLimits = XML_LIMITS): XmlNode[] {
  checkBeforeParsing(xml, field, limits);
  checkCharacterReferences(xml, field);
  const illegal = ILLEGAL_CHAR.exec(xml);
  if (illegal) {
    notWellFormed(xml, field, illegal.index, `character U+${illegal[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} is not allowed in XML`);
  }

  const top: XmlNode[] = [];
  // the open elements, innermost last
  const openNames: string[] = [];
  const openKids: XmlNode[][] = [];
  const openSpans: XmlSpan[] = [];
  let depth = 0;
  let kids = top;
  let nodes = 0;
  let roots = 0;
  const bom = xml.charCodeAt(0) === 0xfeff ? 1 : 0;
  let i = bom;
  const n = xml.length;
  // The next '<', '&' and ']]>' at or after the place last asked about (n: none). The scan only moves forward, so
  // each is searched for once per occurrence, not once per text or attribute value (one native call each saved).
  let nextLt = -1;
  let nextAmp = -1;
  let nextCdataEnd = -1;
  while (i < n) {
    if (nextLt < i) nextLt = indexOrEnd(xml, '<', i);
    const textEnd = nextLt;
    if (textEnd > i) {
      const text = xml.slice(i, textEnd);
      if (depth === 0) {
        if (skipBlanks(xml, i) < textEnd) notWellFormed(xml, field, i, 'text outside the root element');
      } else {
        if (nextAmp < i) nextAmp = indexOrEnd(xml, '&', i);
        if (nextAmp < textEnd) checkReferences(xml, field, text, i);
        if (nextCdataEnd < i) nextCdataEnd = indexOrEnd(xml, ']]>', i);
        if (nextCdataEnd < textEnd) notWellFormed(xml, field, nextCdataEnd, "']]>' is not allowed in text");
      }
      if (++nodes > limits.maxNodes) throw fieldError(field, 'QBG_ERR_XML_LIMIT', 'node count', limits.maxNodes);
      kids.push(textNode(text));
      i = textEnd;
      if (i === n) break;
    }
    const c = xml.charCodeAt(i + 1);
    if (c === SLASH) {
      // </name S? >
      const tagAt = i + 2;
      const end = nameEnd(xml, tagAt);
      const gt = skipBlanks(xml, end);
      if (end === tagAt || xml.charCodeAt(gt) !== GT) notWellFormed(xml, field, i, 'malformed end tag');
      if (depth === 0) notWellFormed(xml, field, i, `end tag </${xml.slice(tagAt, end)}> without a start tag`);
      depth--;
      const open = openNames.pop()!;
      if (end - tagAt !== open.length || !sameText(open, xml, tagAt)) {
        notWellFormed(xml, field, i, `expected </${open}>, found </${xml.slice(tagAt, end)}>`);
      }
      const span = openSpans.pop()!;
      openKids.pop();
      span.close = i;
      span.end = gt + 1;
      kids = depth ? openKids[depth - 1] : top;
      i = gt + 1;
    } else if (c === BANG) {
      if (xml.startsWith('<!--', i)) {
        const end = xml.indexOf('-->', i + 4);
        if (end === -1) notWellFormed(xml, field, i, 'unterminated comment');
        const body = xml.slice(i + 4, end);
        if (body.includes('--') || body.endsWith('-')) notWellFormed(xml, field, i, "'--' is not allowed inside a comment");
        if (++nodes > limits.maxNodes) throw fieldError(field, 'QBG_ERR_XML_LIMIT', 'node count', limits.maxNodes);
        kids.push({ [COMMENT]: [{ [TEXT]: body }] });
        i = end + 3;
      } else if (depth > 0 && xml.startsWith('<![CDATA[', i)) {
        const end = xml.indexOf(']]>', i + 9);
        if (end === -1) notWellFormed(xml, field, i, 'unterminated CDATA section');
        if (++nodes > limits.maxNodes) throw fieldError(field, 'QBG_ERR_XML_LIMIT', 'node count', limits.maxNodes);
        kids.push({ [CDATA]: [{ [TEXT]: xml.slice(i + 9, end) }] });
        i = end + 3;
      } else notWellFormed(xml, field, i, "unexpected '<!'");
    } else if (c === QUESTION) {
      // <?target (S anything)??>
      const targetEnd = nameEnd(xml, i + 2);
      const end = xml.indexOf('?>', i + 2);
      if (targetEnd === i + 2 || end === -1 || end < targetEnd) notWellFormed(xml, field, i, 'malformed processing instruction');
      if (end > targetEnd && !isBlank(xml.charCodeAt(targetEnd))) notWellFormed(xml, field, i, 'malformed processing instruction');
      const target = xml.slice(i + 2, targetEnd);
      if (target.toLowerCase() === 'xml' && i !== bom) notWellFormed(xml, field, i, 'the XML declaration must come first');
      if (++nodes > limits.maxNodes) throw fieldError(field, 'QBG_ERR_XML_LIMIT', 'node count', limits.maxNodes);
      const pi: XmlNode = {};
      pi[`?${target}`] = [];
      kids.push(pi);
      i = end + 2;
    } else {
      // <name (S name S? = S? "value")* S? /? >
      const tagAt = i + 1;
      const nameEndAt = nameEnd(xml, tagAt);
      if (nameEndAt === tagAt) notWellFormed(xml, field, i, "'<' must start a tag");
      const name = nameAt(xml, tagAt, nameEndAt);
      let at = nameEndAt;
      let attrs: Record<string, string> | undefined;
      for (;;) {
        const attrAt = skipBlanks(xml, at);
        if (attrAt === at) break;
        const attrEnd = nameEnd(xml, attrAt);
        if (attrEnd === attrAt) break;
        const eq = skipBlanks(xml, attrEnd);
        if (xml.charCodeAt(eq) !== EQUALS) break;
        const open = skipBlanks(xml, eq + 1);
        const q = xml.charCodeAt(open);
        if (q !== DQUOTE && q !== SQUOTE) break;
        const close = xml.indexOf(q === DQUOTE ? '"' : "'", open + 1);
        if (close === -1) break;
        if (nextLt <= open) nextLt = indexOrEnd(xml, '<', open + 1);
        if (nextLt < close) break;
        const value = xml.slice(open + 1, close);
        const attrName = nameAt(xml, attrAt, attrEnd);
        attrs ??= Object.create(NO_PROPERTIES) as Record<string, string>;
        if (attrName in attrs) notWellFormed(xml, field, at, `attribute ${attrName} given twice`);
        if (nextAmp <= open) nextAmp = indexOrEnd(xml, '&', open + 1);
        if (nextAmp < close) checkReferences(xml, field, value, at);
        attrs[attrName] = value;
        at = close + 1;
      }
      let gt = skipBlanks(xml, at);
      const empty = xml.charCodeAt(gt) === SLASH;
      if (empty) gt++;
      if (xml.charCodeAt(gt) !== GT) notWellFormed(xml, field, at, `malformed start tag <${name}> (attributes need a quoted value)`);
      if (depth === 0 && roots++ > 0) throw fieldError(field, 'QBG_ERR_XML_SHAPE', `${field}: a document needs exactly one root element`);
      if (depth + 1 > limits.maxDepth) throw fieldError(field, 'QBG_ERR_XML_LIMIT', 'nesting depth', `${limits.maxDepth} levels`);
      if (++nodes > limits.maxNodes) throw fieldError(field, 'QBG_ERR_XML_LIMIT', 'node count', limits.maxNodes);
      const children: XmlNode[] = [];
      const node: XmlNode = {};
      node[name] = children; // not { [name]: children }: a literal with a computed key is several times slower
      if (attrs) node[ATTRS] = attrs;
      const span: XmlSpan = { start: i, end: gt + 1, close: -1 };
      (node as { [SPAN]?: XmlSpan })[SPAN] = span;
      kids.push(node);
      i = gt + 1;
      if (!empty) {
        openNames.push(name);
        openKids.push(children);
        openSpans.push(span);
        depth++;
        kids = children;
      }
    }
  }
  if (depth) notWellFormed(xml, field, n, `unclosed <${openNames[depth - 1]}>`);
  if (roots === 0) notWellFormed(xml, field, n, 'no root element');
  return top;
}
