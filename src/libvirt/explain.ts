// `qbg explain DOMAIN.xml`: for each NIC of a libvirt domain, what qbg would do at its start (owner, VSI type and
// version, VLAN, uplink) and everything that would make the start fail, found BEFORE a start is tried. libvirt
// itself reports most of these only after its 10 s port-profile timeout, in a generic message ("port-profile setlink
// timed out"), with the cause in libvirtd's own log. Pure: the live facts (lldpad, uplinks, libvirtd, the type
// database) are gathered by src/service/explain-facts.ts and passed in.
import { isQbgError } from '../domain/errors.js';
import { parseMac } from '../domain/identifiers.js';
import { formatVlanRanges, vlanAllowed, type VsiTypeVersion } from '../domain/vsi-type.js';
import { readQbgNics, type NicProfileRef } from './qbg-metadata.js';
import { VIRTUALPORT_QBG, type QbgParameters } from './virtualport.js';
import { checkDomain, libvirtUnsignedInt } from './xml-check.js';
import { attr, attributes, childElements, firstChild, parseXmlDocument, rootElement, tagName, textContent, type XmlNode } from './xml-read.js';

/** Stable finding codes: what a program matches on; the message and `fix` say it for a person. */
export const EXPLAIN_FINDINGS = {
  'domain-unreadable': 'the document is not a libvirt <domain> qbg can read (or its qbg metadata is malformed)',
  'libvirt-refuses': 'libvirt would not define the domain (a rule of `qbg xml check`)',
  'type-unknown': "the NIC's VSI type (metadata profile, or virtualport typeid) is not in qbg's type database",
  'type-version-unknown': 'the VSI type exists, but not in the version the NIC pins',
  'vlan-not-allowed': "the NIC's VLAN is not one its VSI type allows",
  'uplink-unknown': 'qbg cannot tell which uplink the NIC uses',
  'uplink-unreadable': "lldpad could not be read for the NIC's uplink (no such interface, or no lldpad there)",
  'uplink-evb-not-negotiated': "no EVB exchange with the bridge on the NIC's uplink: lldpad refuses VDP there",
  'bridge-no-reflective-relay': 'a VEPA NIC, but the bridge has not turned reflective relay on for the uplink',
  'lldpad-down': 'lldpad does not answer',
  'libvirt-netlink-lost': "a libvirt-owned NIC on a libvirtd whose port-profile requests are known to be lost",
  'libvirtd-unknown': 'a libvirt-owned NIC, but no libvirtd was found to judge',
  'owner-conflict': "ownership qbg, but the NIC's <interface> carries an 802.1Qbg virtualport (libvirt would announce it too): the hook refuses the start",
  'virtualport-missing': 'ownership libvirt, but the qbg NIC carries no 802.1Qbg virtualport: nobody would announce its VSI, the hook refuses the start',
} as const;
export type ExplainCode = keyof typeof EXPLAIN_FINDINGS;

export type Owner = 'qbg' | 'libvirt' | 'none';

export interface ExplainFinding {
  code: ExplainCode;
  /** error: the start (or the NIC's VSI) would fail; warning: it may, or qbg cannot tell */
  severity: 'error' | 'warning';
  /** the NIC's MAC; absent for the document as a whole */
  nic?: string;
  /** what in the XML or the host is at fault, e.g. "metadata.nic[52:54:00:…].vlan", "uplink s0", "lldpad" */
  field: string;
  message: string;
  /** what to do about it */
  fix: string;
}

export interface ExplainedNic {
  mac: string;
  interfaceType: string;
  /** who announces the VSI: qbg (hook → lldpad's client socket), libvirt (netlink, from the interface's virtualport), nobody */
  owner: Owner;
  /** where the owner was decided: the host config (ownership), or the XML (an interface-level virtualport) */
  ownerFrom: 'config' | 'xml';
  type: { name: string; typeIdVersion: number; typeId: number; managerId?: number } | null;
  vlan: number;
  uplink: string | null;
  /** macvtap mode of a direct NIC (vepa, bridge, private, passthrough) */
  mode?: string;
}

export interface ExplainResult {
  /** true when nothing found would make the start fail (warnings allowed) */
  ok: boolean;
  domain: { name?: string; uuid?: string };
  nics: ExplainedNic[];
  findings: ExplainFinding[];
}

/** What qbg knows of one uplink's lldpad right now. */
export interface UplinkFacts {
  /** configured in qbg (qbg uplink set) */
  managed: boolean;
  /** set when lldpad could not be read for it */
  error?: string;
  /** the EVB TLV exchange with the bridge is complete */
  evbNegotiated: boolean;
  /** the bridge's RRCTR (reflective relay on for this port); undefined: unknown */
  reflectiveRelayOn?: boolean;
}

/** The libvirtd that would start the VM (found in lldpad's network namespace). */
export interface LibvirtdFacts {
  pid: number;
  /** "9.0.0"; absent when `libvirtd --version` could not be read */
  version?: string;
  /** lldpad/libvirt-nlport-shim.so (or another LD_PRELOAD around bind()) is loaded */
  portShim: boolean;
}

export interface ExplainFacts {
  types: { get(name: string, typeIdVersion?: number): VsiTypeVersion | undefined; list(): VsiTypeVersion[] };
  lldpad: { ok: boolean; pid?: number };
  uplinks: Record<string, UplinkFacts>;
  /** null: looked for and none found; undefined: not looked for */
  libvirtd?: LibvirtdFacts | null;
  /** the host's ownership mode (config); undefined: decided per NIC from the XML */
  ownership?: 'qbg' | 'libvirt';
  /** the hook's defaultUplink, for NICs that name no <source dev> */
  defaultUplink?: string;
}

/** libvirt versions measured to lose port-profile requests without the shim (docs/libvirt-lab.md): the netlink port
 *  id libnl picks is returned as a signed int, and a port with bit 31 set reads as a failure. */
const NETLINK_LOST_VERSIONS = /^9\.0\./;

/** One NIC of the document as explain reads it, before any fact is consulted. */
export interface DomainNic {
  mac: string;
  interfaceType: string;
  uplink?: string;
  mode?: string;
  vlan: number;
  /** from <vlan><tag> or the metadata, for the field name of a finding */
  vlanFrom: string;
  ref?: NicProfileRef;
  virtualport?: QbgParameters & { type?: string; complete: boolean };
}

export function readDomainNics(domain: XmlNode): { name?: string; uuid?: string; nics: DomainNic[] } {
  const refs = readQbgNics(domain);
  const nameEl = firstChild(domain, 'name');
  const uuidEl = firstChild(domain, 'uuid');
  const devices = firstChild(domain, 'devices');
  const nics: DomainNic[] = [];
  for (const iface of devices ? childElements(devices, 'interface') : []) {
    const macEl = firstChild(iface, 'mac');
    const macText = macEl ? attr(macEl, 'address') : undefined;
    if (macText === undefined) continue; // libvirt makes one up at define: no metadata can name it
    const mac = parseMac(macText, 'interface.mac');
    const ref = refs.get(mac);
    const source = firstChild(iface, 'source');
    const interfaceType = attr(iface, 'type') ?? '';
    const nic: DomainNic = { mac, interfaceType, vlan: 0, vlanFrom: `interface[${mac}].vlan` };
    const dev = source ? attr(source, 'dev') : undefined;
    if (interfaceType === 'direct' && dev !== undefined) nic.uplink = dev;
    const mode = source ? attr(source, 'mode') : undefined;
    if (interfaceType === 'direct') nic.mode = mode ?? 'vepa';
    const tag = firstChild(iface, 'vlan') && childElements(firstChild(iface, 'vlan')!, 'tag')[0];
    const tagId = tag ? libvirtUnsignedInt(attr(tag, 'id') ?? '') : undefined;
    if (ref?.vlan !== undefined) [nic.vlan, nic.vlanFrom] = [ref.vlan, `metadata.nic[${mac}].vlan`];
    else if (tagId !== undefined) [nic.vlan, nic.vlanFrom] = [tagId, `interface[${mac}].vlan.tag.id`];
    if (ref) nic.ref = ref;
    const vp = firstChild(iface, 'virtualport');
    if (vp) {
      const p = firstChild(vp, 'parameters');
      const a = p ? attributes(p) : {};
      const num = (k: string): number | undefined => (a[k] === undefined ? undefined : libvirtUnsignedInt(a[k]));
      const type = attr(vp, 'type');
      const v: DomainNic['virtualport'] = { complete: false, ...(type !== undefined ? { type } : {}) };
      const [managerId, typeId, typeIdVersion] = [num('managerid'), num('typeid'), num('typeidversion')];
      if (managerId !== undefined) v.managerId = managerId;
      if (typeId !== undefined) v.typeId = typeId;
      if (typeIdVersion !== undefined) v.typeIdVersion = typeIdVersion;
      if (a.instanceid !== undefined) v.instanceId = a.instanceid;
      v.complete = type === VIRTUALPORT_QBG && managerId !== undefined && typeId !== undefined && typeIdVersion !== undefined;
      nic.virtualport = v;
    }
    nics.push(nic);
  }
  return {
    ...(nameEl ? { name: textContent(nameEl).trim() } : {}),
    ...(uuidEl ? { uuid: textContent(uuidEl).trim() } : {}),
    nics,
  };
}

/** The uplinks whose state explain needs for this document (so the facts can be gathered first). */
export function uplinksOf(nics: DomainNic[], defaultUplink?: string): string[] {
  const out = new Set<string>();
  for (const n of nics) {
    if (!n.ref && n.virtualport?.type !== VIRTUALPORT_QBG) continue;
    const u = n.uplink ?? defaultUplink;
    if (u !== undefined) out.add(u);
  }
  return [...out];
}

/** Parse the document; a document qbg cannot read is a finding, not an exception. */
export function readExplainDomain(xml: string): { root?: XmlNode; read?: ReturnType<typeof readDomainNics>; finding?: ExplainFinding } {
  try {
    const root = rootElement(parseXmlDocument(xml, 'xml'));
    if (tagName(root) !== 'domain') {
      return { finding: { code: 'domain-unreadable', severity: 'error', field: 'xml', message: `expected a libvirt <domain>, got <${tagName(root) ?? '?'}>`, fix: 'give the domain XML (virsh dumpxml VM)' } };
    }
    return { root, read: readDomainNics(root) };
  } catch (e) {
    if (!isQbgError(e)) throw e;
    return { finding: { code: 'domain-unreadable', severity: 'error', field: e.field ?? 'xml', message: e.message, fix: 'correct the XML or its qbg metadata' } };
  }
}

export function explainDomain(xml: string, facts: ExplainFacts): ExplainResult {
  const { root, read, finding } = readExplainDomain(xml);
  if (!root || !read) return { ok: false, domain: {}, nics: [], findings: [finding!] };
  const findings: ExplainFinding[] = [];
  for (const v of checkDomain(root)) {
    findings.push({ code: 'libvirt-refuses', severity: 'error', field: v.element, message: `${v.rule}: ${v.message}`, fix: 'see `qbg xml check`: libvirt refuses the domain before any NIC is tried' });
  }
  const nics = read.nics.map((n) => explainNic(n, facts, findings));
  // lldpad is named once for the document: every NIC with a VSI needs it, whoever announces
  if (nics.some((n) => n.owner !== 'none') && !facts.lldpad.ok) {
    findings.unshift({
      code: 'lldpad-down',
      severity: 'error',
      field: 'lldpad',
      message: 'lldpad does not answer: no VSI can be associated (libvirt fails after its 10 s timeout, qbg at once)',
      fix: 'start lldpad (systemctl start lldpad) in the namespace qbg is configured for (lldpad.netns)',
    });
  }
  return { ok: !findings.some((f) => f.severity === 'error'), domain: read.name !== undefined || read.uuid !== undefined ? { ...(read.name !== undefined ? { name: read.name } : {}), ...(read.uuid !== undefined ? { uuid: read.uuid } : {}) } : {}, nics, findings };
}

function ownerOf(n: DomainNic, facts: ExplainFacts): { owner: Owner; ownerFrom: 'config' | 'xml' } {
  const qbgVp = n.virtualport?.type === VIRTUALPORT_QBG;
  if (!n.ref && !qbgVp) return { owner: 'none', ownerFrom: 'xml' };
  if (facts.ownership) return { owner: facts.ownership, ownerFrom: 'config' };
  // an interface-level 802.1Qbg virtualport makes libvirt announce the VSI itself over netlink
  return { owner: qbgVp ? 'libvirt' : 'qbg', ownerFrom: 'xml' };
}

function explainNic(n: DomainNic, facts: ExplainFacts, findings: ExplainFinding[]): ExplainedNic {
  const { owner, ownerFrom } = ownerOf(n, facts);
  const uplink = n.uplink ?? (owner === 'none' ? undefined : facts.defaultUplink);
  const out: ExplainedNic = { mac: n.mac, interfaceType: n.interfaceType, owner, ownerFrom, type: null, vlan: n.vlan, uplink: uplink ?? null, ...(n.mode !== undefined ? { mode: n.mode } : {}) };
  if (owner === 'none') return out;
  const add = (code: ExplainCode, severity: 'error' | 'warning', field: string, message: string, fix: string): void =>
    void findings.push({ code, severity, nic: n.mac, field, message, fix });

  // one owner per VSI (the hook enforces the host's ownership at prepare begin: src/hooks/run-hook.ts)
  const qbgVp = n.virtualport?.type === VIRTUALPORT_QBG;
  if (ownerFrom === 'config' && owner === 'qbg' && qbgVp) {
    add('owner-conflict', 'error', `interface[${n.mac}].virtualport`, "its <interface> carries an 802.1Qbg <virtualport>, so libvirt would announce the VSI itself over netlink; on this host qbg owns the VSIs (ownership: qbg) and the hook refuses such a NIC", "remove the virtualport (qbg xml rewrite does), or set ownership: libvirt in qbg's config");
  } else if (ownerFrom === 'config' && owner === 'libvirt' && !qbgVp && n.interfaceType !== 'network') {
    add('virtualport-missing', 'error', `interface[${n.mac}].virtualport`, 'its <interface> has no 802.1Qbg <virtualport>; on this host libvirt owns the VSIs (ownership: libvirt) and announces only what the interface carries, so nobody would announce this one', "write it with qbg xml rewrite on this host, or set ownership: qbg in qbg's config");
  }

  // the VSI type: by the metadata's profile name, else by the virtualport's typeid (and managerid)
  let t: VsiTypeVersion | undefined;
  if (n.ref) {
    const field = `metadata.nic[${n.mac}].${n.ref.version !== undefined ? 'version' : 'profile'}`;
    t = facts.types.get(n.ref.profile, n.ref.version);
    if (!t) {
      const current = facts.types.get(n.ref.profile);
      if (current && n.ref.version !== undefined) {
        add('type-version-unknown', 'error', field, `VSI type ${n.ref.profile} has no version ${n.ref.version} (current: ${current.typeIdVersion})`, `pin a version qbg knows (qbg profile show ${n.ref.profile}) or drop version= to take the current one`);
      } else {
        add('type-unknown', 'error', `metadata.nic[${n.mac}].profile`, `no VSI type named ${n.ref.profile} in qbg's type database`, 'add it (qbg profile add / import) or correct the profile name');
      }
    }
  } else if (n.virtualport?.typeId !== undefined) {
    const vp = n.virtualport;
    const field = `interface[${n.mac}].virtualport.parameters`;
    // types.list() holds current versions: the type is found by typeid (and managerid), then its pinned version
    const named = facts.types.list().find((x) => x.typeId === vp.typeId && (vp.managerId === undefined || x.managerId === undefined || x.managerId === vp.managerId));
    t = named && (vp.typeIdVersion === undefined ? named : facts.types.get(named.name, vp.typeIdVersion));
    // libvirt announces what the XML says whatever qbg knows; the bridge's type database decides. For a qbg-owned
    // NIC qbg cannot associate a type it does not know.
    const severity = owner === 'qbg' ? 'error' : 'warning';
    if (!t && named) {
      add('type-version-unknown', severity, `${field}.typeidversion`, `VSI type ${named.name} (typeid ${vp.typeId}) has no version ${vp.typeIdVersion} in qbg's type database (current: ${named.typeIdVersion})`, 'use a known typeidversion, or add that version (qbg profile edit); the bridge is likely to refuse an unknown one');
    } else if (!t) {
      add('type-unknown', severity, `${field}.typeid`, `no VSI type with typeid ${vp.typeId}${vp.managerId !== undefined ? ` and managerid ${vp.managerId}` : ''} in qbg's type database`, 'add the VSI type (qbg profile add), or correct typeid/managerid; the bridge is likely to refuse an unknown type');
    }
  }
  if (t) {
    out.type = { name: t.name, typeIdVersion: t.typeIdVersion, typeId: t.typeId, ...(t.managerId !== undefined ? { managerId: t.managerId } : {}) };
    // qbg refuses such a NIC itself; libvirt sends it, and the bridge (whose type database qbg's mirrors) decides
    if (!vlanAllowed(t, n.vlan)) {
      add('vlan-not-allowed', owner === 'qbg' ? 'error' : 'warning', n.vlanFrom, `VLAN ${n.vlan} is not allowed by VSI type ${t.name} version ${t.typeIdVersion} (allowed: ${formatVlanRanges(t.allowedVlans)})`, `use one of ${formatVlanRanges(t.allowedVlans)}, or allow ${n.vlan} in a new version of the type`);
    }
  }

  // the uplink's EVB state, as qbg reads it from lldpad
  if (uplink === undefined) {
    add('uplink-unknown', 'warning', `interface[${n.mac}].source`, `a type='${n.interfaceType}' NIC names no <source dev>: its uplink comes from elsewhere (a libvirt network's forward interfaces)`, 'set defaultUplink in the hook config, or use <interface type="direct"> on the uplink, to let qbg check it');
  } else {
    const u = facts.uplinks[uplink];
    if (!u || u.error !== undefined) {
      add('uplink-unreadable', 'error', `uplink ${uplink}`, `lldpad could not be read for uplink ${uplink}${u?.error ? `: ${u.error}` : ''}`, `check that ${uplink} exists and lldpad manages it (qbg uplink set ${uplink}; qbg uplink status ${uplink})`);
    } else if (!u.evbNegotiated) {
      add('uplink-evb-not-negotiated', 'error', `uplink ${uplink}`, `no EVB exchange with the bridge on ${uplink}: lldpad refuses VDP there ("VDP protocol not supported"; libvirt: ENXIO or a 10 s timeout)`, `check the bridge port's EVB configuration and the link, then qbg uplink status ${uplink}${u.managed ? '' : ` (qbg does not manage ${uplink}: qbg uplink set ${uplink} and apply)`}`);
    } else if (n.mode === 'vepa' && u.reflectiveRelayOn === false) {
      add('bridge-no-reflective-relay', 'error', `uplink ${uplink}`, `NIC in VEPA mode, but the bridge has not turned reflective relay on for ${uplink}: traffic to other VMs on this host is not reflected back`, `enable reflective relay on the bridge port (station side: qbg uplink set ${uplink} reflectiveRelay=true)`);
    }
  }

  if (owner === 'libvirt') {
    const lv = facts.libvirtd;
    if (lv === null) {
      add('libvirtd-unknown', 'warning', 'libvirtd', "no libvirtd runs in lldpad's network namespace: qbg cannot tell whether its port-profile requests reach lldpad", 'start libvirtd, or run explain where it runs');
    } else if (lv && !lv.portShim && lv.version !== undefined && NETLINK_LOST_VERSIONS.test(lv.version)) {
      add('libvirt-netlink-lost', 'error', 'libvirtd', `libvirt ${lv.version} (pid ${lv.pid}) without the netlink port shim: when libnl gives its socket a port with bit 31 set (3 of 10 libvirtd starts measured here) it sends no port-profile request at all ("sending of PortProfileRequest failed."), for the life of that libvirtd`, 'let qbg own the NIC (metadata profile, no interface-level virtualport), or load lldpad/libvirt-nlport-shim.so into libvirtd (LD_PRELOAD), or upgrade libvirt');
    }
  }
  return out;
}
