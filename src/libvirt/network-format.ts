// A libvirt <network> read and written back the way libvirt writes it (`virsh net-dumpxml` after `net-define`),
// following virNetworkDefFormatBuf, virPortGroupDefFormat and virNetDevVPortProfileFormat (libvirt
// src/conf/network_conf.c, src/conf/netdev_vport_profile_conf.c): two-space indentation, single quotes, the
// elements in libvirt's order whatever order the input had, a <uuid> always (libvirt makes a random one up when
// there is none: so does qbg, and says so), the first forward interface repeated as <forward dev>, virtualport
// numbers in decimal whatever base they were written in, only the parameters that were given, UUIDs in canonical
// form. For the networks qbg deals with: the macvtap family (forward mode vepa, private, passthrough, or bridge
// without a bridge name) with virtualports and portgroups; anything else is refused naming the element, never
// dropped. A network libvirt would not define is refused with the rule of `qbg xml check`. Compared with a real
// libvirtd's net-dumpxml in test/lab/libvirt-network-format.test.ts.
import { randomUUID } from 'node:crypto';
import { QbgError } from '../domain/errors.js';
import { checkNetwork, libvirtUnsignedInt } from './xml-check.js';
import { attr, attributes, childElements, firstChild, parseXmlDocument, rootElement, tagName, textContent, type XmlNode } from './xml-read.js';

const MODES = ['vepa', 'private', 'passthrough', 'bridge'];
const NETWORK_CHILDREN = ['name', 'uuid', 'title', 'description', 'forward', 'virtualport', 'portgroup'];

/** virBufferEscapeString: the five XML specials as entities. */
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

/** virUUIDFormat of what virUUIDParse read: 32 hex digits, lower case, 8-4-4-4-12. */
function canonicalUuid(text: string): string {
  const hex = text.replace(/[-\s]/g, '').toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function unsupported(element: string, why: string): QbgError {
  return new QbgError('QBG_ERR_XML_SHAPE', `${element}: ${why}; qbg writes back macvtap-family networks (forward mode ${MODES.join(', ')}) with virtualports and portgroups only`, { field: element });
}

function onlyChildren(el: XmlNode, allowed: string[], where: string): void {
  for (const c of childElements(el)) {
    const name = tagName(c)!;
    if (!allowed.includes(name)) throw unsupported(`${where} <${name}>`, 'not supported');
  }
}

/** virNetDevVPortProfileFormat, indented by `pad`. */
function virtualportLines(vp: XmlNode, pad: string): string[] {
  const type = attr(vp, 'type');
  const p = firstChild(vp, 'parameters');
  const a = p ? attributes(p) : {};
  const qbgOrNone = type === undefined || type === '802.1Qbg';
  const parts: string[] = [];
  for (const k of ['managerid', 'typeid', 'typeidversion']) if (a[k] !== undefined && qbgOrNone) parts.push(` ${k}='${libvirtUnsignedInt(a[k])}'`);
  if (a.instanceid !== undefined && qbgOrNone) parts.push(` instanceid='${canonicalUuid(a.instanceid)}'`);
  if (a.interfaceid !== undefined && (type === undefined || type === 'openvswitch' || type === 'midonet')) parts.push(` interfaceid='${canonicalUuid(a.interfaceid)}'`);
  if (a.profileid !== undefined && (type === undefined || type === 'openvswitch' || type === '802.1Qbh')) parts.push(` profileid='${esc(a.profileid)}'`);
  if (parts.length === 0) return type === undefined ? [] : [`${pad}<virtualport type='${esc(type)}'/>`];
  return [`${pad}<virtualport${type === undefined ? '' : ` type='${esc(type)}'`}>`, `${pad}  <parameters${parts.join('')}/>`, `${pad}</virtualport>`];
}

export interface FormattedNetwork {
  xml: string;
  /** the input had no <uuid>: a random one was made up, as libvirt does at net-define */
  uuidGenerated: boolean;
}

export function formatNetworkXml(xml: string, opts: { uuid?: () => string } = {}): FormattedNetwork {
  const net = rootElement(parseXmlDocument(xml, 'xml'));
  if (tagName(net) !== 'network') throw new QbgError('QBG_ERR_XML_SHAPE', `expected a libvirt <network>, got <${tagName(net)}>`, { field: 'xml' });
  const refused = checkNetwork(net);
  if (refused.length) {
    const v = refused[0];
    throw new QbgError('QBG_ERR_XML_SHAPE', `libvirt would not define this network: ${v.rule}: ${v.element}: ${v.message}`, { field: v.element, details: { violations: refused } });
  }
  for (const a of Object.keys(attributes(net))) throw unsupported(`<network ${a}>`, 'not supported');
  onlyChildren(net, NETWORK_CHILDREN, '<network>');
  const nameEl = firstChild(net, 'name');
  if (!nameEl) throw new QbgError('QBG_ERR_XML_SHAPE', 'the network has no <name> (libvirt: "missing name information")', { field: 'name' });
  const forward = firstChild(net, 'forward');
  const mode = forward ? attr(forward, 'mode') : undefined;
  if (!forward || mode === undefined || !MODES.includes(mode)) throw unsupported('<forward>', `forward mode ${mode ?? (forward ? 'nat (the default)' : 'none')}`);
  onlyChildren(forward, ['interface'], '<forward>');
  for (const k of Object.keys(attributes(forward))) if (k !== 'mode' && k !== 'dev') throw unsupported(`<forward ${k}>`, 'not supported');
  const devs = childElements(forward, 'interface').map((i) => attr(i, 'dev') ?? '');
  // libvirt reads <forward dev> as the first interface when no <interface> is given
  if (devs.length === 0 && attr(forward, 'dev') !== undefined) devs.push(attr(forward, 'dev')!);

  const uuidEl = firstChild(net, 'uuid');
  const uuid = uuidEl ? canonicalUuid(textContent(uuidEl)) : (opts.uuid ?? randomUUID)();
  const out: string[] = ['<network>', `  <name>${esc(textContent(nameEl))}</name>`, `  <uuid>${uuid}</uuid>`];
  for (const k of ['title', 'description']) {
    const el = firstChild(net, k);
    if (el) out.push(`  <${k}>${esc(textContent(el))}</${k}>`);
  }
  if (devs.length === 0) out.push(`  <forward mode='${mode}'/>`);
  else out.push(`  <forward dev='${esc(devs[0])}' mode='${mode}'>`, ...devs.map((d) => `    <interface dev='${esc(d)}'/>`), '  </forward>');
  const vp = firstChild(net, 'virtualport');
  if (vp) out.push(...virtualportLines(vp, '  '));
  for (const pg of childElements(net, 'portgroup')) {
    onlyChildren(pg, ['virtualport'], `<portgroup ${attr(pg, 'name')}>`);
    const isDefault = (attr(pg, 'default') ?? '').toLowerCase() === 'yes';
    out.push(`  <portgroup name='${esc(attr(pg, 'name')!)}'${isDefault ? " default='yes'" : ''}>`);
    const pgVp = firstChild(pg, 'virtualport');
    if (pgVp) out.push(...virtualportLines(pgVp, '    '));
    out.push('  </portgroup>');
  }
  out.push('</network>');
  return { xml: out.join('\n') + '\n', uuidGenerated: !uuidEl };
}
