// How a domain XML says which qbg profile (VSI type) a NIC uses: ONE way, qbg's own element in the domain's
// <metadata> (libvirt keeps foreign-namespace metadata untouched and lets tools edit it with
// `virsh metadata --uri https://qbg.example/xmlns/1`):
//
//   <metadata>
//     <qbg:nics xmlns:qbg="https://qbg.example/xmlns/1">
//       <qbg:nic mac="52:54:00:12:34:56" profile="web-tier"/>
//       <qbg:nic mac="52:54:00:12:34:57" profile="db-tier" version="3" vlan="300"/>
//     </qbg:nics>
//   </metadata>
//
// Matched by namespace URI, not prefix. version pins a typeIdVersion (default: the type's current version). vlan is
// the VID the hooks announce for the NIC: libvirt refuses a <vlan> tag on a macvtap NIC in VEPA mode (only
// passthrough, hostdev and Open vSwitch can tag), so for those NICs this is the one place the VLAN can be said.
// NICs are matched by MAC, the one identity libvirt keeps stable for a NIC across redefinitions.
import { QbgError } from '../domain/errors.js';
import { parseMac, parseName, parseTypeIdVersion, parseVlan } from '../domain/identifiers.js';
import { attributes, childElements, firstChild, localName, namespaceOf, type XmlNode } from './xml-read.js';

export const QBG_XMLNS = 'https://qbg.example/xmlns/1';

const NIC_ATTRS = ['mac', 'profile', 'version', 'vlan'];

export interface NicProfileRef {
  mac: string;
  profile: string;
  version?: number;
  vlan?: number;
}

function shape(field: string, message: string): QbgError {
  return new QbgError('QBG_ERR_XML_SHAPE', message, { field });
}

/** The qbg:nic entries of a <domain>, by canonical MAC. Typos are errors: a misspelt entry would leave a NIC without its VSI. */
export function readQbgNics(domain: XmlNode): Map<string, NicProfileRef> {
  const out = new Map<string, NicProfileRef>();
  const metadata = firstChild(domain, 'metadata');
  if (!metadata) return out;
  for (const nics of childElements(metadata)) {
    if (namespaceOf(nics, [domain, metadata]) !== QBG_XMLNS) continue;
    if (localName(nics) !== 'nics') throw shape('metadata', `unknown qbg metadata element <${localName(nics)}> (expected <nics>)`);
    for (const nic of childElements(nics)) {
      if (namespaceOf(nic, [domain, metadata, nics]) !== QBG_XMLNS || localName(nic) !== 'nic') {
        throw shape('metadata.nics', `unexpected element in qbg nics: <${localName(nic)}> (expected <nic mac profile [version] [vlan]>)`);
      }
      const a = attributes(nic);
      for (const k of Object.keys(a)) {
        if (!k.startsWith('xmlns') && !NIC_ATTRS.includes(k)) {
          throw shape(`metadata.nic.${k}`, `unknown attribute ${k} on qbg nic (allowed: ${NIC_ATTRS.join(', ')})`);
        }
      }
      if (a.mac === undefined) throw shape('metadata.nic.mac', 'qbg nic needs a mac attribute');
      if (a.profile === undefined) throw shape('metadata.nic.profile', `qbg nic ${a.mac} needs a profile attribute`);
      const mac = parseMac(a.mac, 'metadata.nic.mac');
      const ref: NicProfileRef = { mac, profile: parseName(a.profile, `metadata.nic[${mac}].profile`) };
      if (a.version !== undefined) ref.version = parseTypeIdVersion(a.version, `metadata.nic[${mac}].version`);
      if (a.vlan !== undefined) ref.vlan = parseVlan(a.vlan, `metadata.nic[${mac}].vlan`);
      if (out.has(mac)) throw shape(`metadata.nic[${mac}]`, `qbg nic ${mac} is listed twice`);
      out.set(mac, ref);
    }
  }
  return out;
}
