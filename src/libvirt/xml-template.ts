// Small XML documents of a fixed shape (an <interface> per NIC), built with xmlbuilder2 ONCE per shape and then
// only re-valued: building the tree node by node was two thirds of the time per interface XML, serialising it a
// fifth. Each call sets every attribute of the shape (att() replaces a value in place, so attribute order stays
// the build order) and serialises; all synchronous, so one tree per shape can be shared by every caller.
import { create } from './xmlbuilder.js';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';

/** An element with attributes (in output order) and child elements; no text content. */
export interface XmlElementSpec {
  name: string;
  attrs: ReadonlyArray<readonly [string, string]>;
  children?: readonly XmlElementSpec[];
}

interface Template {
  root: XMLBuilder;
  /** the builders of the elements in document order, as assign() visits the spec */
  elements: XMLBuilder[];
}

/** The DOM element behind a builder (xmlbuilder2's own DOM). */
type DomElement = { setAttribute(name: string, value: string): void };

/** Shapes come from code (which attributes are present), not data; the bound is a safety net. */
const MAX_SHAPES = 64;
const templates = new Map<string, Template>();
const SERIALISE = { prettyPrint: true } as const;

function shapeKey(e: XmlElementSpec): string {
  let k = `<${e.name}`;
  for (const [a] of e.attrs) k += ` ${a}`;
  k += '>';
  for (const c of e.children ?? []) k += shapeKey(c);
  return `${k}</>`;
}

function build(parent: XMLBuilder, e: XmlElementSpec, elements: XMLBuilder[]): XMLBuilder {
  const el = parent.ele(e.name, Object.fromEntries(e.attrs));
  elements.push(el);
  for (const c of e.children ?? []) build(el, c, elements);
  return el;
}

function templateFor(e: XmlElementSpec): Template {
  const key = shapeKey(e);
  let t = templates.get(key);
  if (t === undefined) {
    const elements: XMLBuilder[] = [];
    t = { root: build(create(), e, elements), elements };
    if (templates.size >= MAX_SHAPES) templates.clear();
    templates.set(key, t);
  }
  return t;
}

function assign(e: XmlElementSpec, elements: XMLBuilder[], i: number): number {
  const el = elements[i++];
  for (const [a, v] of e.attrs) {
    // for a plain attribute name (no prefix, not xmlns) att() comes down to this call after a namespace analysis
    // that cost as much as the whole serialisation; the name was already validated when the template was built
    if (a.includes(':') || a === 'xmlns') el.att(a, v);
    else (el.node as unknown as DomElement).setAttribute(a, v);
  }
  for (const c of e.children ?? []) i = assign(c, elements, i);
  return i;
}

/** The element pretty-printed (two-space indent, no XML declaration), with a final newline. */
export function renderElement(e: XmlElementSpec): string {
  const t = templateFor(e);
  assign(e, t.elements, 0);
  return t.root.toString(SERIALISE) + '\n';
}
