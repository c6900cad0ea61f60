// Which NICs of a libvirt domain qbg associates, read from the domain XML a hook receives (libvirt: stdin; vdsm:
// the file named by $_hook_domxml). A NIC counts when it names a qbg profile in the domain metadata
// (src/libvirt/qbg-metadata.ts) or carries an interface-level <virtualport type='802.1Qbg'>.
import { QbgError } from '../domain/errors.js';
import { parseIfname, parseMac, parseUuid, parseVlan } from '../domain/identifiers.js';
import { readQbgNics } from '../libvirt/qbg-metadata.js';
import { VIRTUALPORT_QBG, virtualportOf, type QbgParameters } from '../libvirt/virtualport.js';
import { attr, childElements, firstChild, parseXmlDocument, rootElement, tagName, textContent, type XmlNode } from '../libvirt/xml-read.js';

export interface HookNic {
  mac: string;
  /** libvirt interface type: 'direct' (macvtap on the uplink), 'network', … */
  interfaceType?: string;
  /** The macvtap lower device (<source dev>) of a direct NIC: the station uplink lldpad runs VDP on. */
  uplink?: string;
  /** The qbg metadata's vlan, else the first <vlan><tag id>, else 0 (untagged). */
  vlan: number;
  /** qbg profile (VSI type name) from the metadata, with its pinned version if any. */
  profile?: string;
  version?: number;
  /** The interface's own 802.1Qbg parameters, when it has a virtualport. */
  virtualport?: QbgParameters;
}

export interface HookDomain {
  name?: string;
  vmUuid: string;
  nics: HookNic[];
}

function shape(field: string, message: string): QbgError {
  return new QbgError('QBG_ERR_XML_SHAPE', message, { field });
}

export function readHookDomain(xml: string): HookDomain {
  const domain = rootElement(parseXmlDocument(xml, 'domain'));
  if (tagName(domain) !== 'domain') throw shape('domain', `expected a libvirt <domain> document, got <${tagName(domain)}>`);
  const uuidEl = firstChild(domain, 'uuid');
  if (!uuidEl) throw shape('domain.uuid', 'the domain XML has no <uuid>: qbg identifies a NIC by VM UUID + MAC');
  const vmUuid = parseUuid(textContent(uuidEl).trim(), 'domain.uuid');
  const nameEl = firstChild(domain, 'name');
  const refs = readQbgNics(domain);
  const devices = firstChild(domain, 'devices');
  const nics: HookNic[] = [];
  for (const iface of devices ? childElements(devices, 'interface') : []) {
    const macText = firstChild(iface, 'mac') ? attr(firstChild(iface, 'mac')!, 'address') : undefined;
    if (macText === undefined) continue; // libvirt gives every NIC a MAC at define time; a hook always sees one
    const mac = parseMac(macText, 'interface.mac');
    const ref = refs.get(mac);
    const vp = virtualportOf(iface, `interface ${mac}`);
    const qbgPort = vp?.type === VIRTUALPORT_QBG ? vp : undefined;
    if (!ref && !qbgPort) continue;
    // a macvtap NIC in VEPA mode cannot carry a libvirt <vlan> (libvirt refuses it): qbg's metadata says it instead
    const nic: HookNic = { mac, vlan: ref?.vlan ?? vlanOf(iface, mac) };
    const type = attr(iface, 'type');
    if (type !== undefined) nic.interfaceType = type;
    const source = firstChild(iface, 'source');
    const dev = source ? attr(source, 'dev') : undefined;
    if (type === 'direct' && dev !== undefined) nic.uplink = parseIfname(dev, `interface[${mac}].source.dev`);
    if (ref) {
      nic.profile = ref.profile;
      if (ref.version !== undefined) nic.version = ref.version;
    }
    if (qbgPort) nic.virtualport = qbgPort.parameters;
    nics.push(nic);
  }
  return { ...(nameEl ? { name: textContent(nameEl).trim() } : {}), vmUuid, nics };
}

function vlanOf(iface: XmlNode, mac: string): number {
  const vlan = firstChild(iface, 'vlan');
  const tag = vlan ? childElements(vlan, 'tag')[0] : undefined;
  const id = tag ? attr(tag, 'id') : undefined;
  return id === undefined ? 0 : parseVlan(Number(id), `interface[${mac}].vlan.tag.id`);
}
