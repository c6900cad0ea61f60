// Would libvirt define this document? The <virtualport> rules libvirt applies when it parses a domain (`virsh
// define`), a network (`net-define`) or a network port (`net-port-create`), written down from libvirt's parser
// (src/conf/netdev_vport_profile_conf.c virNetDevVPortProfileParse and the flags its callers pass) and checked
// against a real libvirtd 9.0 case by case (test/lab/libvirt-xml-check.test.ts, corpus in
// test/fixtures/libvirt-oracle/). Every violation names its rule (a stable id) and the element.
//
// What each caller asks of virNetDevVPortProfileParse (measured on libvirt 9.0):
//   domain <interface type='network'>                 instanceid/interfaceid made up when absent; type optional
//   domain <interface type='bridge'|'direct'|'hostdev'> the same, and a type and every parameter of it required
//   domain <interface> of any other type              no <virtualport> at all
//   network <virtualport>                             a type required
//   network <portgroup><virtualport>, networkport     nothing more
// Then, for every caller: only the attributes of the virtualport's own type (802.1Qbg: managerid, typeid,
// typeidversion, instanceid). Numbers are read like C's strtoul base 0 (decimal, 0x-hex, 0-octal, leading
// blanks and a sign allowed, nothing after), UUIDs like virUUIDParse (32 hex digits, '-' or ' ' between pairs).
// libvirt does NOT check at define time whether a virtualport type fits the network's forward mode (an
// openvswitch virtualport on a vepa network defines fine): that happens when a port is allocated, which
// checkNetworkPort does when it is given the network, and checkDomain for the type='network' NICs of a domain on
// the network it is given (libvirt 9.0 allocates each such NIC a port of its network at `virsh start`; checked
// against real starts in test/lab/libvirt-start-merge.test.ts, cases in test/fixtures/libvirt-oracle/start/).
import { QbgError } from '../domain/errors.js';
import { mergeVirtualports } from './merge.js';
import type { QbgParameters, VirtualportLevel } from './virtualport.js';
import { attr, attributes, childElements, firstChild, parseXmlDocument, rootElement, tagName, textContent, type XmlNode } from './xml-read.js';

export const XML_KINDS = ['domain', 'network', 'networkport'] as const;
export type XmlKind = (typeof XML_KINDS)[number];

/** Stable rule ids: what a program matches on. The message says it for a person. */
export const XML_RULES = {
  'document-root': 'the document is a libvirt <domain>, <network> or <networkport>',
  'virtualport-type-unknown': "a virtualport type is one of 802.1Qbg, 802.1Qbh, openvswitch, midonet (case matters)",
  'virtualport-type-required': 'a <virtualport> of this element must name its type',
  'virtualport-not-allowed': "only <interface type='network'|'bridge'|'direct'|'hostdev'> may carry a <virtualport>",
  'parameter-number': 'managerid, typeid, typeidversion are unsigned numbers: decimal, 0x-hex or 0-octal',
  'parameter-range': 'managerid 0–255, typeid 0–16777215, typeidversion 0–255',
  'parameter-uuid': 'instanceid and interfaceid are UUIDs (32 hex digits)',
  'parameter-too-long': 'profileid has at most 39 characters',
  'parameter-missing': "a virtualport of this element needs every parameter of its type (802.1Qbg: managerid, typeid, typeidversion)",
  'parameter-foreign': "only the virtualport type's own parameters (802.1Qbg: no profileid, no interfaceid)",
  'portgroup-name': 'every <portgroup> has a name, unique in its network',
  'portgroup-default': 'at most one <portgroup default="yes"> per network',
  'network-bridge-name': 'a network in vepa, private, passthrough or hostdev mode has no <bridge name>',
  'network-vlan': 'a <vlan> only on hostdev/passthrough networks or where the virtualport is openvswitch on a bridge network',
  'networkport-field': 'a <networkport> has <uuid>, <owner><name>, <owner><uuid> and <mac address>',
  'virtualport-merge': 'a virtualport type or parameter given at two levels (port, network, portgroup) has one value',
  'virtualport-forward-mode': 'the merged virtualport type fits the network: macvtap modes 802.1Qbg or 802.1Qbh, a bridge openvswitch',
} as const;
export type XmlRule = keyof typeof XML_RULES;

export interface XmlViolation {
  rule: XmlRule;
  /** the element, e.g. "interface 52:54:00:12:34:56 <virtualport>", "portgroup web <virtualport>" */
  element: string;
  message: string;
}

export interface XmlCheckResult {
  kind: XmlKind | 'unknown';
  /** true when libvirt would define (create) the document */
  ok: boolean;
  violations: XmlViolation[];
}

const VIRTUALPORT_TYPES = ['802.1Qbg', '802.1Qbh', 'openvswitch', 'midonet'] as const;
type VirtualportType = (typeof VIRTUALPORT_TYPES)[number];

/** Parameters each type may carry (virNetDevVPortProfileCheckNoExtras) and those it must carry after the defaults
 *  libvirt makes up (virNetDevVPortProfileCheckComplete: instanceid for 802.1Qbg, interfaceid for openvswitch). */
const OWN: Record<VirtualportType, { allowed: string[]; required: string[] }> = {
  '802.1Qbg': { allowed: ['managerid', 'typeid', 'typeidversion', 'instanceid'], required: ['managerid', 'typeid', 'typeidversion'] },
  '802.1Qbh': { allowed: ['profileid'], required: ['profileid'] },
  openvswitch: { allowed: ['profileid', 'interfaceid'], required: [] },
  midonet: { allowed: ['interfaceid'], required: ['interfaceid'] },
};
const ALL_PARAMETERS = ['managerid', 'typeid', 'typeidversion', 'instanceid', 'profileid', 'interfaceid'];
const NUMBER_MAX: Record<string, number> = { managerid: 0xff, typeid: 0xffffff, typeidversion: 0xff };

const isSpace = (c: string | undefined): boolean => c !== undefined && ' \t\n\v\f\r'.includes(c);

/**
 * libvirt's virStrToLong_ui(text, NULL, 0, &val): C strtoul with base 0 (so "010" is octal 8 and "08" no number),
 * nothing may follow the digits, and a negative number wraps around like C's unsigned arithmetic ("-0" is 0; "-1"
 * is 4294967295). undefined when libvirt cannot parse it.
 */
export function libvirtUnsignedInt(text: string): number | undefined {
  let i = 0;
  while (isSpace(text[i])) i++;
  let negative = false;
  if (text[i] === '+' || text[i] === '-') negative = text[i++] === '-';
  let base = 10;
  if (text[i] === '0' && (text[i + 1] === 'x' || text[i + 1] === 'X') && /[0-9a-f]/i.test(text[i + 2] ?? '')) {
    base = 16;
    i += 2;
  } else if (text[i] === '0') base = 8;
  const digit = base === 16 ? /[0-9a-f]/i : base === 8 ? /[0-7]/ : /[0-9]/;
  const start = i;
  while (i < text.length && digit.test(text[i])) i++;
  if (i === start || i !== text.length) return undefined;
  const v = BigInt(base === 16 ? `0x${text.slice(start, i)}` : base === 8 ? `0o${text.slice(start, i)}` : text.slice(start, i));
  if (v > 0xffffffffn) return undefined; // strtoul's ERANGE, or libvirt's "does not fit an unsigned int"
  return Number(negative ? (0x100000000n - v) % 0x100000000n : v);
}

/** libvirt's virUUIDParse: blanks around, '-' or ' ' anywhere between hex digit pairs, exactly 32 hex digits. */
export function libvirtUuid(text: string): boolean {
  const hex = (c: string | undefined): boolean => c !== undefined && /[0-9a-f]/i.test(c);
  let i = 0;
  while (isSpace(text[i])) i++;
  for (let pairs = 0; pairs < 16; ) {
    const c = text[i];
    if (c === undefined) return false;
    if (c === '-' || c === ' ') {
      i++;
      continue;
    }
    if (!hex(c) || !hex(text[i + 1])) return false;
    i += 2;
    pairs++;
  }
  for (; i < text.length; i++) if (!isSpace(text[i])) return false;
  return true;
}

interface ParseFlags {
  /** VIR_VPORT_XML_REQUIRE_TYPE */
  requireType?: boolean;
  /** VIR_VPORT_XML_REQUIRE_ALL_ATTRIBUTES (after the made-up defaults) */
  requireAll?: boolean;
}

/** One <virtualport> as libvirt reads it; violations are pushed, the parsed level returned for merging. */
function checkVirtualport(vp: XmlNode, where: string, flags: ParseFlags, out: XmlViolation[]): { type?: string; params: Record<string, string> } | undefined {
  const element = `${where} <virtualport>`;
  const v = (rule: XmlRule, message: string): void => void out.push({ rule, element, message });
  const type = attr(vp, 'type');
  if (type !== undefined && !(VIRTUALPORT_TYPES as readonly string[]).includes(type)) {
    v('virtualport-type-unknown', `unknown virtualport type "${type}" (libvirt knows ${VIRTUALPORT_TYPES.join(', ')})`);
    return undefined;
  }
  if (type === undefined && flags.requireType) {
    v('virtualport-type-required', 'missing required virtualport type');
    return undefined;
  }
  const paramsEl = firstChild(vp, 'parameters');
  const all = paramsEl ? attributes(paramsEl) : {};
  const params: Record<string, string> = {};
  for (const k of ALL_PARAMETERS) if (all[k] !== undefined) params[k] = all[k];
  const before = out.length;
  for (const k of ['managerid', 'typeid', 'typeidversion']) {
    if (params[k] === undefined) continue;
    const n = libvirtUnsignedInt(params[k]);
    if (n === undefined) v('parameter-number', `${k}="${params[k]}" is not a number as libvirt reads it (decimal, 0x-hex or 0-octal, nothing after it)`);
    else if (n > NUMBER_MAX[k]) v('parameter-range', `${k}="${params[k]}" is ${n}, out of range 0–${NUMBER_MAX[k]}`);
  }
  for (const k of ['instanceid', 'interfaceid']) {
    if (params[k] !== undefined && !libvirtUuid(params[k])) v('parameter-uuid', `${k}="${params[k]}" is not a UUID`);
  }
  if (params.profileid !== undefined && params.profileid.length >= 40) v('parameter-too-long', `profileid has ${params.profileid.length} characters, at most 39`);
  if (out.length > before) return undefined;
  if (type === undefined) return { params };
  const own = OWN[type as VirtualportType];
  if (flags.requireAll) {
    const missing = own.required.filter((k) => params[k] === undefined);
    if (missing.length) v('parameter-missing', `missing ${missing.join(', ')} in <virtualport type='${type}'>`);
  }
  const foreign = ALL_PARAMETERS.filter((k) => params[k] !== undefined && !own.allowed.includes(k));
  if (foreign.length) v('parameter-foreign', `${foreign.join(', ')} not allowed in <virtualport type='${type}'> (its parameters: ${own.allowed.join(', ')})`);
  return { type, params };
}

/** Interface types that may carry a <virtualport>, and what libvirt then requires of it. */
const INTERFACE_FLAGS: Record<string, ParseFlags> = {
  network: {},
  bridge: { requireType: true, requireAll: true },
  direct: { requireType: true, requireAll: true },
  hostdev: { requireType: true, requireAll: true },
};

/**
 * A domain as `virsh define` reads it; given a network, also what `virsh start` checks for each of its
 * <interface type='network'> NICs on that network: libvirt allocates each one a port of the network (merging the
 * interface's, the network's and the portgroup's virtualports, the type against the forward mode, completeness, a
 * VLAN tag the network can carry). NICs on other networks are not judged by this network.
 */
export function checkDomain(domain: XmlNode, network?: XmlNode): XmlViolation[] {
  const out: XmlViolation[] = [];
  const devices = firstChild(domain, 'devices');
  const networkName = network ? textOf(firstChild(network, 'name')) : undefined;
  childElementsOf(devices, 'interface').forEach((iface, i) => {
    const macEl = firstChild(iface, 'mac');
    const mac = macEl ? attr(macEl, 'address') : undefined;
    const type = attr(iface, 'type') ?? '';
    const where = `interface ${mac ?? `#${i + 1}`} (type '${type}')`;
    const vp = firstChild(iface, 'virtualport');
    let parsed: ReturnType<typeof checkVirtualport>;
    if (vp) {
      const flags = INTERFACE_FLAGS[type];
      if (!flags) {
        out.push({ rule: 'virtualport-not-allowed', element: `${where} <virtualport>`, message: `<virtualport> element unsupported for <interface type='${type}'>` });
        return;
      }
      const before = out.length;
      parsed = checkVirtualport(vp, where, flags, out);
      if (out.length > before) return;
    }
    const source = firstChild(iface, 'source');
    if (network && type === 'network' && source && attr(source, 'network') === networkName) {
      const group = attr(source, 'portgroup');
      allocation({ el: iface, where, ...(group !== undefined ? { group } : {}), ...(parsed ? { parsed } : {}) }, network, out);
    }
  });
  return out;
}

function childElementsOf(n: XmlNode | undefined, name: string): XmlNode[] {
  return n ? childElements(n, name) : [];
}

const MACVTAP_MODES = ['private', 'vepa', 'passthrough'];

export function checkNetwork(network: XmlNode): XmlViolation[] {
  const out: XmlViolation[] = [];
  const name = textOf(firstChild(network, 'name')) ?? '(unnamed)';
  const vp = firstChild(network, 'virtualport');
  if (vp) checkVirtualport(vp, `network ${name}`, { requireType: true }, out);
  const seen = new Set<string>();
  const defaults: string[] = [];
  childElements(network, 'portgroup').forEach((pg, i) => {
    const pgName = attr(pg, 'name');
    const where = `portgroup ${pgName ?? `#${i + 1}`} of network ${name}`;
    if (pgName === undefined) {
      out.push({ rule: 'portgroup-name', element: where, message: 'missing required name attribute in portgroup' });
      return;
    }
    if (seen.has(pgName)) out.push({ rule: 'portgroup-name', element: where, message: `a second <portgroup> named ${pgName}` });
    seen.add(pgName);
    // libvirt: default="yes" in any case counts, any other value means no
    if ((attr(pg, 'default') ?? '').toLowerCase() === 'yes') defaults.push(pgName);
    const pgVp = firstChild(pg, 'virtualport');
    if (pgVp) checkVirtualport(pgVp, where, {}, out);
  });
  if (defaults.length > 1) {
    out.push({ rule: 'portgroup-default', element: `network ${name}`, message: `${defaults.length} default portgroups (${defaults.join(', ')}), only one is allowed` });
  }
  const forward = firstChild(network, 'forward');
  const mode = forward ? (attr(forward, 'mode') ?? 'nat') : 'none';
  const bridge = firstChild(network, 'bridge');
  if ([...MACVTAP_MODES, 'hostdev'].includes(mode) && bridge && attr(bridge, 'name') !== undefined) {
    out.push({ rule: 'network-bridge-name', element: `network ${name} <bridge>`, message: `bridge name not allowed in ${mode} mode` });
  }
  checkVlans(network, name, mode, out);
  return out;
}

const hasVlanTags = (el: XmlNode): boolean => childElements(el, 'vlan').some((v) => childElements(v, 'tag').length > 0);
const virtualportType = (el: XmlNode): string | undefined => {
  const vp = firstChild(el, 'virtualport');
  return vp ? (attr(vp, 'type') ?? 'none') : undefined;
};

/** libvirt's vlan rule for networks: only an SR-IOV pool (hostdev, passthrough) or an Open vSwitch bridge can tag,
 *  so a <vlan> on a VEPA (or private, …) network is refused at define time; a portgroup that tags and carries its
 *  own virtualport must be openvswitch on a bridge network. */
function checkVlans(network: XmlNode, name: string, mode: string, out: XmlViolation[]): void {
  const vlanAllowed = mode === 'hostdev' || mode === 'passthrough' || (mode === 'bridge' && virtualportType(network) === 'openvswitch');
  const vlanUsed = hasVlanTags(network);
  const groups = childElements(network, 'portgroup');
  const bad = groups.some((pg) => {
    if (!vlanUsed && !hasVlanTags(pg)) return false;
    const own = virtualportType(pg);
    return own !== undefined ? mode !== 'bridge' || own !== 'openvswitch' : !vlanAllowed;
  });
  if (bad || (vlanUsed && !vlanAllowed && groups.length === 0)) {
    out.push({ rule: 'network-vlan', element: `network ${name} <vlan>`, message: `<vlan> on a ${mode} network whose virtualport cannot tag (only hostdev/passthrough networks and openvswitch bridges)` });
  }
}

function textOf(n: XmlNode | undefined): string | undefined {
  return n ? textContent(n) : undefined;
}

/**
 * A <networkport> as `virsh net-port-create` reads it; given the network it is created on, also what libvirt checks
 * when it allocates the port there: the port's, the network's and the portgroup's virtualports merged, the merged
 * type fitting the forward mode, and (802.1Qbg) every parameter present.
 */
export function checkNetworkPort(port: XmlNode, network?: XmlNode): XmlViolation[] {
  const out: XmlViolation[] = [];
  const field = (what: string, ok: boolean, message: string): void => {
    if (!ok) out.push({ rule: 'networkport-field', element: `networkport ${what}`, message });
  };
  const uuid = textOf(firstChild(port, 'uuid'));
  field('<uuid>', uuid !== undefined && libvirtUuid(uuid), uuid === undefined ? 'network port has no uuid' : `unable to parse UUID '${uuid}'`);
  const owner = firstChild(port, 'owner');
  field('<owner><name>', textOf(owner && firstChild(owner, 'name')) !== undefined, 'network port has no owner name');
  const ownerUuid = textOf(owner && firstChild(owner, 'uuid'));
  field('<owner><uuid>', ownerUuid !== undefined && libvirtUuid(ownerUuid), ownerUuid === undefined ? 'network port has no owner UUID' : `unable to parse UUID '${ownerUuid}'`);
  const vp = firstChild(port, 'virtualport');
  const parsed = vp ? checkVirtualport(vp, 'networkport', {}, out) : undefined;
  const macEl = firstChild(port, 'mac');
  const mac = macEl ? attr(macEl, 'address') : undefined;
  field('<mac>', mac !== undefined && /^[0-9a-f]{1,2}(:[0-9a-f]{1,2}){5}$/i.test(mac), mac === undefined ? 'network port has no mac' : `unable to parse MAC '${mac}'`);
  if (network && out.length === 0) allocation({ el: port, where: 'networkport', group: textOf(firstChild(port, 'group')), parsed }, network, out);
  return out;
}

/** What a port brings to its allocation: a <networkport>, or a domain's <interface type='network'> at VM start
 *  (libvirt 9.0 turns the interface into a network port and allocates it the same way). */
interface PortSide {
  /** the element carrying the port's own <virtualport> (and <vlan>) */
  el: XmlNode;
  /** the portgroup it asks for (networkport <group>, interface <source portgroup>) */
  group?: string;
  /** names the port in messages: "networkport", "interface 52:54:00:… (type 'network')" */
  where: string;
  parsed?: { type?: string; params: Record<string, string> };
}

/** networkAllocatePort: merge (libvirt's Merge3), the type the forward mode takes, completeness, a VLAN the network
 *  can tag. The portgroup is the one the port names, else the default one; a name no portgroup has means none
 *  (libvirt's virPortGroupFindByName, no error). */
function allocation(port: PortSide, network: XmlNode, out: XmlViolation[]): void {
  const name = textOf(firstChild(network, 'name')) ?? '(unnamed)';
  const element = `${port.where} on network ${name}`;
  const groups = childElements(network, 'portgroup');
  const pg = port.group !== undefined ? groups.find((g) => attr(g, 'name') === port.group) : groups.find((g) => (attr(g, 'default') ?? '').toLowerCase() === 'yes');
  const level = (el: XmlNode | undefined, where: string): VirtualportLevel | undefined => {
    const vp = el && firstChild(el, 'virtualport');
    if (!vp) return undefined;
    const p = firstChild(vp, 'parameters');
    const a = p ? attributes(p) : {};
    const parameters: QbgParameters = {};
    if (a.managerid !== undefined) parameters.managerId = libvirtUnsignedInt(a.managerid);
    if (a.typeid !== undefined) parameters.typeId = libvirtUnsignedInt(a.typeid);
    if (a.typeidversion !== undefined) parameters.typeIdVersion = libvirtUnsignedInt(a.typeidversion);
    if (a.instanceid !== undefined) parameters.instanceId = a.instanceid.replace(/[- \t\n]/g, '').toLowerCase();
    const type = attr(vp, 'type');
    return { where, ...(type !== undefined ? { type } : {}), parameters };
  };
  const levels = [level(port.el, port.where), level(network, `network ${name}`), level(pg, `portgroup ${pg ? attr(pg, 'name') : ''} of network ${name}`)];
  let merged;
  try {
    merged = mergeVirtualports(...levels);
  } catch (e) {
    out.push({ rule: 'virtualport-merge', element, message: e instanceof QbgError ? e.message : String(e) });
    return;
  }
  const forward = firstChild(network, 'forward');
  const mode = forward ? (attr(forward, 'mode') ?? 'nat') : 'none';
  const bridgeName = firstChild(network, 'bridge') && attr(firstChild(network, 'bridge')!, 'name');
  const macvtap = MACVTAP_MODES.includes(mode) || (mode === 'bridge' && bridgeName === undefined);
  const type = merged?.type ?? 'none';
  // a port that asks for a VLAN tag needs a network that can tag (the network's and portgroup's own <vlan> were
  // judged at net-define already)
  if (hasVlanTags(port.el) && !(mode === 'hostdev' || mode === 'passthrough' || (mode === 'bridge' && !macvtap && type === 'openvswitch'))) {
    out.push({ rule: 'network-vlan', element: `${port.where} <vlan>`, message: `a VLAN tag on a port of network ${name}, which cannot tag (${mode} mode${type === 'none' ? '' : `, virtualport ${type}`})` });
  }
  if (!levels.some(Boolean)) return;
  const fits = macvtap ? ['802.1Qbg', '802.1Qbh'].includes(type) : mode === 'bridge' ? type === 'openvswitch' : mode === 'hostdev' ? type === '802.1Qbh' : false;
  if (!fits) {
    const uses = macvtap ? 'a macvtap device' : mode === 'bridge' ? 'a bridge device' : mode === 'hostdev' ? 'SR-IOV virtual functions' : 'IP forwarding';
    out.push({ rule: 'virtualport-forward-mode', element, message: `<virtualport type='${type}'> not supported for network ${name} which uses ${uses}` });
    return;
  }
  if (type === '802.1Qbg') {
    const p = merged!.parameters;
    const missing = [['managerid', p.managerId], ['typeid', p.typeId], ['typeidversion', p.typeIdVersion]].filter(([, x]) => x === undefined).map(([k]) => k);
    if (missing.length) out.push({ rule: 'parameter-missing', element, message: `missing ${missing.join(', ')} in <virtualport type='802.1Qbg'> after merging port, network and portgroup` });
  } else if (type === '802.1Qbh' && (port.parsed?.params.profileid ?? profileOf(network) ?? profileOf(pg)) === undefined) {
    out.push({ rule: 'parameter-missing', element, message: "missing profileid in <virtualport type='802.1Qbh'>" });
  }
}

function profileOf(el: XmlNode | undefined): string | undefined {
  const vp = el && firstChild(el, 'virtualport');
  const p = vp && firstChild(vp, 'parameters');
  return p ? attr(p, 'profileid') : undefined;
}

/** Check a document of any of the three kinds (told, or found from its root element). */
export function checkLibvirtXml(xml: string, opts: { kind?: XmlKind; network?: string } = {}): XmlCheckResult {
  const root = rootElement(parseXmlDocument(xml, 'xml'));
  const name = tagName(root);
  const kind = opts.kind ?? ((XML_KINDS as readonly (string | undefined)[]).includes(name) ? (name as XmlKind) : undefined);
  if (kind === undefined || name !== kind) {
    const violations: XmlViolation[] = [
      { rule: 'document-root', element: `<${name ?? '?'}>`, message: `expected ${kind ? `<${kind}>` : 'a <domain>, <network> or <networkport>'} as the root element, got <${name ?? '?'}>` },
    ];
    return { kind: kind ?? 'unknown', ok: false, violations };
  }
  let network: XmlNode | undefined;
  if (opts.network !== undefined) {
    network = rootElement(parseXmlDocument(opts.network, 'network'));
    if (tagName(network) !== 'network') throw new QbgError('QBG_ERR_XML_SHAPE', `the network document's root is <${tagName(network)}>, not <network>`, { field: 'network' });
  }
  let violations: XmlViolation[];
  if (kind === 'domain') violations = checkDomain(root, network);
  else if (kind === 'network') violations = checkNetwork(root);
  else violations = checkNetworkPort(root, network);
  return { kind, ok: violations.length === 0, violations };
}
