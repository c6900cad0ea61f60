// What a provisioning hook does to a domain XML: every NIC named in qbg's metadata (see qbg-metadata.ts) gets its
// profile's full 802.1Qbg virtualport and a stable instance id; nothing else in the document changes. The changes
// are spliced into the original text at the places the scanner found (xml-read.ts scanXmlDocument): every byte
// outside an edited <interface> — comments, order, quoting, indentation, other namespaces — stays as it was; a new
// <virtualport> is inserted before the interface's closing indentation and the rest of that interface is kept too;
// only an interface whose existing <virtualport> had to be completed is written anew (in the document's quote).
// Parameters already in the document are kept and checked against the profile with libvirt's merge rules.
//
// That is the rewrite for a host where libvirt owns the VSIs (config ownership: libvirt): libvirt announces what the
// interface carries. Where qbg owns them (ownership: qbg, qbg's default) the interface must carry NO 802.1Qbg
// virtualport, or libvirt would announce the VSI too (docs/ownership.md): a NIC named in the metadata keeps only the
// metadata (a virtualport it had is removed, after the same merge check: libvirt then sends nothing, and the hook
// announces the VSI under the instance id derived from VM UUID + MAC); a NIC with a virtualport that the metadata
// does not name is refused, naming the NIC.
import { QbgError, fieldError } from '../domain/errors.js';
import { parseMac, parseUuid } from '../domain/identifiers.js';
import { stableInstanceId } from '../domain/instance-uuid.js';
import type { VsiTypeLookup, VsiTypeVersion } from '../domain/vsi-type.js';
import { mergeInterfaceWithNetwork, mergeVirtualports } from './merge.js';
import { readQbgNics } from './qbg-metadata.js';
import { checkDomain } from './xml-check.js';
import { parameterAttributes, parametersOfType, VIRTUALPORT_QBG, virtualportOf, virtualportText, type QbgParameters } from './virtualport.js';
import {
  attr,
  children,
  dominantQuote,
  childElements,
  element,
  firstChild,
  parseXmlDocument,
  rootElement,
  scanXmlDocument,
  serializeXmlNodes,
  setAttr,
  spanOf,
  tagName,
  textContent,
  textNode,
  whitespaceOf,
  type XmlLimits,
  type XmlNode,
} from './xml-read.js';

export interface RewriteOptions {
  /** the VM's UUID when the document has no <uuid> (it must agree with one that is there) */
  vmUuid?: string;
  /** network XML by libvirt network name: type='network' NICs are then merge-checked against their network */
  networks?: Record<string, string>;
  limits?: XmlLimits;
  /** Who announces the VSIs on the host the document is for (default libvirt: the full interface virtualport). */
  ownership?: 'qbg' | 'libvirt';
}

export interface NicChange {
  mac: string;
  profile: string;
  interfaceType: 'direct' | 'network' | 'hostdev';
  /** who announces the NIC's VSI: libvirt from the interface's virtualport, or qbg's hook from the metadata */
  owner: 'qbg' | 'libvirt';
  /** the VSI's parameters: the interface's virtualport (owner libvirt), or what the hook announces (owner qbg) */
  virtualport: Required<QbgParameters>;
  /** instance id already in the document, or derived from VM UUID + MAC */
  instanceIdFrom: 'document' | 'generated';
  /** added: no virtualport before; completed: attributes were added; unchanged: as it was (owner qbg: none, and
   *  none added); removed: owner qbg, the virtualport the interface had is gone */
  action: 'added' | 'completed' | 'unchanged' | 'removed';
}

export interface RewriteResult {
  xml: string;
  changes: NicChange[];
}

/** NICs an 802.1Qbg virtualport works on: macvtap, a VEPA network, an SR-IOV VF (libvirt associates all three). */
const NIC_TYPES = ['direct', 'network', 'hostdev'] as const;

/**
 * Indentation of an element's children and of its closing tag, when the document is indented at all, and the step
 * one level deeper (the children's indentation past the closing tag's, two spaces when that cannot be told).
 */
function indentOf(parent: XmlNode): { child?: string; closing?: string; step: string } {
  const kids = children(parent);
  const firstEl = kids.findIndex((k) => tagName(k) !== undefined || !('#text' in k));
  const child = firstEl > 0 ? whitespaceOf(kids[firstEl - 1]) : undefined;
  const closing = kids.length > 0 ? whitespaceOf(kids[kids.length - 1]) : undefined;
  const step = child && closing && child.startsWith(closing) ? child.slice(closing.length) || '  ' : '  ';
  return { child, closing, step };
}

/** Append a child element, copying the parent's indentation so the result reads like the rest of the file. */
function appendIndented(parent: XmlNode, node: XmlNode): void {
  const kids = children(parent);
  const { child, closing } = indentOf(parent);
  if (child !== undefined && closing !== undefined) kids.splice(kids.length - 1, 0, textNode(child), node);
  else kids.push(node);
}

/** Bring an existing <virtualport> up to `want`: add the type and missing attributes, write numbers in decimal. */
function completeVirtualport(vp: XmlNode, want: QbgParameters): boolean {
  let changed = false;
  if (attr(vp, 'type') === undefined) {
    setAttr(vp, 'type', VIRTUALPORT_QBG);
    changed = true;
  }
  let params = firstChild(vp, 'parameters');
  if (!params) {
    params = element('parameters');
    appendIndented(vp, params);
  }
  // Written the way libvirt writes them back (decimal numbers, a canonical UUID): "0x123457" becomes "1193047",
  // so the document qbg hands on reads the same as the one libvirt will store.
  for (const [name, value] of parameterAttributes(want)) {
    if (attr(params, name) !== value) {
      setAttr(params, name, value);
      changed = true;
    }
  }
  return changed;
}

export function rewriteDomainXml(types: VsiTypeLookup, xml: string, opts: RewriteOptions = {}): RewriteResult {
  const doc = scanXmlDocument(xml, 'domain', opts.limits);
  const domain = rootElement(doc);
  if (tagName(domain) !== 'domain') {
    throw new QbgError('QBG_ERR_XML_SHAPE', `expected a libvirt <domain> document, got <${tagName(domain)}>`, { field: 'domain' });
  }
  // A document libvirt would refuse stays refused: never fill in what libvirt rejects (an untyped or partial
  // virtualport on a direct NIC, hex out of range, profileid on 802.1Qbg), on any NIC, named by qbg or not.
  const refused = checkDomain(domain)[0];
  if (refused) {
    const mac = /^interface (\S+)/.exec(refused.element)?.[1] ?? '?';
    throw new QbgError('QBG_ERR_XML_SHAPE', `libvirt would refuse this domain (rule ${refused.rule}): ${refused.element}: ${refused.message}`, {
      field: `interface[${mac}].virtualport`,
      details: { rule: refused.rule, element: refused.element },
    });
  }
  const refs = readQbgNics(domain);
  const ownership = opts.ownership ?? 'libvirt';
  const devices = firstChild(domain, 'devices');
  const interfaces = devices ? childElements(devices, 'interface') : [];
  if (ownership === 'qbg') refuseUnnamedVirtualports(interfaces, refs);
  if (refs.size === 0) return { xml, changes: [] };

  const uuidEl = firstChild(domain, 'uuid');
  const docUuid = uuidEl ? parseUuid(textContent(uuidEl).trim(), 'domain.uuid') : undefined;
  const optUuid = opts.vmUuid !== undefined ? parseUuid(opts.vmUuid, 'vmUuid') : undefined;
  if (docUuid && optUuid && docUuid !== optUuid) {
    throw fieldError('vmUuid', 'QBG_ERR_BAD_REQUEST', `vmUuid ${optUuid} disagrees with the domain's <uuid> ${docUuid}`);
  }
  const vmUuid = docUuid ?? optUuid;

  const changes: NicChange[] = [];
  /** text replacing [from, to) of the original, in document order */
  const edits: Array<{ from: number; to: number; text: string }> = [];
  const quote = dominantQuote(xml);
  const matched = new Set<string>();
  // NICs of one domain mostly share a profile: one lookup each per document (a store read checks its change stamp)
  const looked = new Map<string, VsiTypeVersion | undefined>();
  for (const iface of interfaces) {
    const macEl = firstChild(iface, 'mac');
    const macText = macEl ? attr(macEl, 'address') : undefined;
    if (macText === undefined) continue; // libvirt assigns a MAC at define time; such a NIC cannot be named yet
    const mac = parseMac(macText, 'interface.mac');
    const ref = refs.get(mac);
    if (!ref) continue;
    matched.add(mac);
    const where = `interface ${mac}`;
    const type = attr(iface, 'type');
    if (!(NIC_TYPES as readonly (string | undefined)[]).includes(type)) {
      throw new QbgError(
        'QBG_ERR_XML_SHAPE',
        `${where} is type '${type}': an 802.1Qbg virtualport needs type 'direct' (macvtap), 'network' (a VEPA network) or 'hostdev' (an SR-IOV VF)`,
        { field: `interface[${mac}].type` },
      );
    }
    const typeKey = ref.version === undefined ? ref.profile : `${ref.profile}\u0000${ref.version}`;
    if (!looked.has(typeKey)) looked.set(typeKey, types.get(ref.profile, ref.version));
    const t = looked.get(typeKey);
    if (!t) {
      const name = ref.version !== undefined ? `${ref.profile} version ${ref.version}` : ref.profile;
      throw fieldError(`metadata.nic[${mac}].profile`, 'QBG_ERR_XML_UNKNOWN_PROFILE', mac, name);
    }
    const profileWhere = `qbg profile ${t.name} version ${t.typeIdVersion}`;
    const wanted = parametersOfType(t, `metadata.nic[${mac}].profile`);
    // The document's own virtualport and the profile must agree, by the rules libvirt applies between levels.
    const existing = virtualportOf(iface, where);
    const merged = mergeVirtualports(existing, { where: profileWhere, type: VIRTUALPORT_QBG, parameters: wanted })!;
    // owner qbg: the hook announces a metadata NIC under the id derived from VM UUID + MAC, whatever the document said
    if (ownership === 'qbg') delete merged.parameters.instanceId;
    const instanceIdFrom = merged.parameters.instanceId !== undefined ? 'document' : 'generated';
    if (merged.parameters.instanceId === undefined) {
      if (!vmUuid) {
        throw fieldError('vmUuid', 'QBG_ERR_FIELD_REQUIRED', `vmUuid (the domain has no <uuid>, and ${where} needs a stable instance id)`);
      }
      merged.parameters.instanceId = stableInstanceId(vmUuid, mac);
    }
    const { managerId, typeId, typeIdVersion, instanceId } = merged.parameters as Required<QbgParameters>;
    const final = { managerId, typeId, typeIdVersion, instanceId };

    let action: NicChange['action'];
    const vpEl = firstChild(iface, 'virtualport');
    const span = spanOf(iface)!;
    if (ownership === 'qbg') {
      action = vpEl ? 'removed' : 'unchanged';
      if (vpEl) edits.push(removal(iface, vpEl, xml));
    } else if (vpEl) {
      action = completeVirtualport(vpEl, final) ? 'completed' : 'unchanged';
      if (action === 'completed') edits.push({ from: span.start, to: span.end, text: serializeXmlNodes([iface], quote) });
    } else {
      const { child, closing, step } = indentOf(iface);
      // before the closing indentation when the interface is indented (the new element gets the children's own
      // indentation), else straight before </interface>
      const at = child !== undefined && closing !== undefined ? span.close - closing.length : span.close;
      const text = (child !== undefined && closing !== undefined ? child : '') + virtualportText(final, quote, child, step);
      edits.push({ from: at, to: at, text });
      action = 'added';
    }
    if (type === 'network') {
      const source = firstChild(iface, 'source');
      const netName = source ? attr(source, 'network') : undefined;
      const netXml = netName !== undefined ? opts.networks?.[netName] : undefined;
      // checked against the network: the virtualport the interface carries from now on (owner libvirt), or the one
      // the document had (owner qbg: the rewrite removes it, but a conflict there is still the admin's mistake)
      const fromInterface = ownership === 'qbg' ? existing : { where, type: VIRTUALPORT_QBG, parameters: final };
      if (netXml !== undefined) mergeInterfaceWithNetwork(iface, where, parseXmlDocument(netXml, `networks.${netName}`, opts.limits), fromInterface);
    }
    changes.push({ mac, profile: t.name, interfaceType: type as NicChange['interfaceType'], owner: ownership, virtualport: final, instanceIdFrom, action });
  }

  for (const mac of refs.keys()) {
    if (!matched.has(mac)) {
      throw new QbgError('QBG_ERR_XML_SHAPE', `qbg metadata names NIC ${mac}, but the domain has no <interface> with that MAC`, {
        field: `metadata.nic[${mac}]`,
      });
    }
  }
  if (edits.length === 0) return { xml, changes };
  // one edit per NIC, the NICs in document order: sorted already, but the splice below needs it, so make sure
  for (let k = 1; k < edits.length; k++) {
    if (edits[k - 1].from > edits[k].from) {
      edits.sort((a, b) => a.from - b.from);
      break;
    }
  }
  let out = '';
  let at = 0;
  for (const e of edits) {
    out += xml.slice(at, e.from) + e.text;
    at = e.to;
  }
  return { xml: out + xml.slice(at), changes };
}

/** ownership qbg: an 802.1Qbg virtualport on a NIC the metadata does not name would be announced by libvirt alone. */
function refuseUnnamedVirtualports(interfaces: XmlNode[], refs: Map<string, unknown>): void {
  for (const iface of interfaces) {
    const macEl = firstChild(iface, 'mac');
    const macText = macEl ? attr(macEl, 'address') : undefined;
    const mac = macText !== undefined ? parseMac(macText, 'interface.mac') : '?';
    if (refs.has(mac) || virtualportOf(iface, `interface ${mac}`)?.type !== VIRTUALPORT_QBG) continue;
    throw new QbgError(
      'QBG_ERR_XML_SHAPE',
      `interface ${mac} carries an 802.1Qbg virtualport that qbg's metadata does not name: on a host where qbg owns the VSIs (ownership: qbg) libvirt would announce it itself; name the NIC in <qbg:nic mac profile> (the rewrite then removes the virtualport) or remove it`,
      { field: `interface[${mac}].virtualport` },
    );
  }
}

/** The edit that drops an element and the indentation before it, leaving every other byte as it was. */
function removal(parent: XmlNode, el: XmlNode, xml: string): { from: number; to: number; text: string } {
  const span = spanOf(el)!;
  const kids = children(parent);
  const before = kids[kids.indexOf(el) - 1];
  const ws = before ? whitespaceOf(before) : undefined;
  const from = ws !== undefined && xml.slice(span.start - ws.length, span.start) === ws ? span.start - ws.length : span.start;
  return { from, to: span.end, text: '' };
}
