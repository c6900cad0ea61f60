// THE mapping between a qbg VSI type and libvirt's <virtualport type='802.1Qbg'><parameters …/>: attribute names,
// their order, their ranges (from identifiers.ts) and how libvirt reads their text. Every other file in
// src/libvirt writes and reads virtualport parameters through this one table.
import { fieldError } from '../domain/errors.js';
import { managerId2ToByte, parseManagerId, parseTypeId, parseTypeIdVersion, parseUuid } from '../domain/identifiers.js';
import type { VsiTypeSpec } from '../domain/vsi-type.js';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';
import { attr, attributes, escapeAttribute, firstChild, type Quote, type XmlNode } from './xml-read.js';
import type { XmlElementSpec } from './xml-template.js';

export const VIRTUALPORT_QBG = '802.1Qbg';

/** Interface-level <source mode> of a macvtap ('direct') NIC. VEPA sends all traffic to the adjacent bridge. */
export const DIRECT_MODES = ['vepa', 'bridge', 'private', 'passthrough'] as const;
export type DirectMode = (typeof DIRECT_MODES)[number];

/** The four 802.1Qbg parameters; any subset may appear at one level (interface, network, portgroup). */
export interface QbgParameters {
  managerId?: number;
  typeId?: number;
  typeIdVersion?: number;
  instanceId?: string;
}

export type QbgParameterKey = keyof QbgParameters;

interface ParameterMapping {
  key: QbgParameterKey;
  /** attribute of <parameters>, in the order libvirt formats them (virNetDevVPortProfileFormat) */
  attr: string;
  read(text: string, field: string): number | string;
}

/**
 * libvirt reads the three numbers with strtoul base 0 (virStrToLong_ui(…, 0, …)): "0x1f" is hex and "010" octal,
 * so "08" is no number at all. qbg reads them the same way so it judges an existing document as libvirt will
 * (it always writes decimal); what libvirt cannot read goes to the range check with a note, which names the field.
 */
function libvirtUnsigned(text: string): number | string {
  const s = text.trim();
  if (/^0x[0-9a-f]+$/i.test(s)) return parseInt(s.slice(2), 16);
  if (/^0[0-7]+$/.test(s)) return parseInt(s.slice(1), 8);
  if (/^(0|[1-9]\d*)$/.test(s)) return Number(s);
  return `${text} (not a number as libvirt reads them: decimal, 0x-hex or 0-octal)`;
}

export const QBG_PARAMETERS: readonly ParameterMapping[] = [
  { key: 'managerId', attr: 'managerid', read: (t, f) => parseManagerId(libvirtUnsigned(t), f) },
  { key: 'typeId', attr: 'typeid', read: (t, f) => parseTypeId(libvirtUnsigned(t), f) },
  { key: 'typeIdVersion', attr: 'typeidversion', read: (t, f) => parseTypeIdVersion(libvirtUnsigned(t), f) },
  { key: 'instanceId', attr: 'instanceid', read: (t, f) => parseUuid(t, f) },
];

export function attrOf(key: QbgParameterKey): string {
  return QBG_PARAMETERS.find((p) => p.key === key)!.attr;
}

/**
 * A VSI type as libvirt parameters (no instance id: that belongs to one NIC). libvirt's managerid is one byte; a
 * ratified VDP22 16-byte manager id that is not a number 0–255 cannot be written at all.
 */
export function parametersOfType(t: Pick<VsiTypeSpec, 'name' | 'managerId' | 'managerId2' | 'typeId' | 'typeIdVersion'>, field = 'profile'): Required<Omit<QbgParameters, 'instanceId'>> {
  const managerId = t.managerId ?? managerId2ToByte(t.managerId2);
  if (managerId === undefined) {
    throw fieldError(
      field,
      'QBG_ERR_XML_NOT_EXPRESSIBLE',
      `VSI type ${t.name} version ${t.typeIdVersion}`,
      `its 16-byte managerId2 ${t.managerId2} does not fit libvirt's one-byte managerid (0–255); associate it through qbg's VDP22 transport instead`,
    );
  }
  return { managerId, typeId: t.typeId, typeIdVersion: t.typeIdVersion };
}

/** The <parameters> attributes in libvirt's order, only those given; values as libvirt formats them. */
export function parameterAttributes(p: QbgParameters): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const m of QBG_PARAMETERS) {
    const v = p[m.key];
    if (v !== undefined) out.push([m.attr, String(v)]);
  }
  return out;
}

/**
 * Read the attributes of one <parameters> element (already entity-decoded). Attributes of other virtualport types
 * (profileid, interfaceid) are left alone here: libvirt's CheckNoExtras judges them, not the merge.
 */
export function readParameters(attrs: Record<string, string>, where: string): QbgParameters {
  const out: QbgParameters = {};
  for (const m of QBG_PARAMETERS) {
    const text = attrs[m.attr];
    if (text !== undefined) (out as Record<string, unknown>)[m.key] = m.read(text, `${where} ${m.attr}`);
  }
  return out;
}

/** One level's <virtualport> as read from a document: its type (absent = typeless) and 802.1Qbg parameters. */
export interface VirtualportLevel {
  /** where it was found, for messages naming both places of a conflict: "interface 52:54:00:…", "portgroup web of network n" */
  where: string;
  type?: string;
  parameters: QbgParameters;
}

/** Read a <virtualport> element (a child of <interface>, <network> or <portgroup>). */
export function readVirtualport(virtualport: XmlNode, where: string): VirtualportLevel {
  const type = attr(virtualport, 'type');
  const params = firstChild(virtualport, 'parameters');
  return { where, ...(type !== undefined ? { type } : {}), parameters: params ? readParameters(attributes(params), where) : {} };
}

/** The <virtualport> child of an element, read; undefined when there is none. */
export function virtualportOf(parent: XmlNode, where: string): VirtualportLevel | undefined {
  const vp = firstChild(parent, 'virtualport');
  return vp ? readVirtualport(vp, where) : undefined;
}

/** Append <virtualport type='802.1Qbg'><parameters …/></virtualport> to an xmlbuilder2 element. */
export function buildVirtualport(parent: XMLBuilder, p: QbgParameters): void {
  parent.ele('virtualport', { type: VIRTUALPORT_QBG }).ele('parameters', Object.fromEntries(parameterAttributes(p))).up().up();
}

/** The same element as a spec for renderElement (src/libvirt/xml-template.ts). */
export function virtualportSpec(p: QbgParameters): XmlElementSpec {
  return { name: 'virtualport', attrs: [['type', VIRTUALPORT_QBG]], children: [{ name: 'parameters', attrs: parameterAttributes(p) }] };
}

/**
 * The same element as text for the domain rewrite, which splices it into the document as it is: attributes in the
 * document's `quote`, the parameters on their own line one `step` deeper than `indent` (the indentation of the
 * virtualport itself), all on one line when the document is not indented (`indent` undefined).
 */
export function virtualportText(p: QbgParameters, quote: Quote, indent: string | undefined, step = '  '): string {
  let params = '<parameters';
  for (const [name, value] of parameterAttributes(p)) params += ` ${name}=${quote}${escapeAttribute(value, quote)}${quote}`;
  params += '/>';
  const open = `<virtualport type=${quote}${VIRTUALPORT_QBG}${quote}>`;
  return indent === undefined ? `${open}${params}</virtualport>` : `${open}${indent}${step}${params}${indent}</virtualport>`;
}
