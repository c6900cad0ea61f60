// libvirt's merge of virtualport parameters for an <interface type='network'> (virNetDevVPortProfileMerge3):
// start from the interface's own <virtualport>, then fill in from the network's, then from the portgroup's. Since
// libvirt 0.10 an attribute set at two levels with different values is an error, not an override; so is a
// virtualport type that differs between levels. qbg applies the same rules before libvirt would (at VM start, far
// from whoever wrote the XML) and names BOTH places in its error.
import { QbgError, qbgError } from '../domain/errors.js';
import {
  attrOf,
  QBG_PARAMETERS,
  VIRTUALPORT_QBG,
  virtualportOf,
  type QbgParameterKey,
  type QbgParameters,
  type VirtualportLevel,
} from './virtualport.js';
import { attr, childElements, firstChild, rootElement, tagName, textContent, type XmlNode } from './xml-read.js';

export interface MergedVirtualport {
  type?: string;
  parameters: QbgParameters;
  /** which level each value came from */
  sources: Partial<Record<QbgParameterKey | 'type', string>>;
}

function conflict(what: string, a: unknown, whereA: string, b: unknown, whereB: string): QbgError {
  const e = qbgError('QBG_ERR_XML_MERGE_CONFLICT', what, String(a), whereA, String(b), whereB);
  return new QbgError(e.code, e.message, { field: what === 'type' ? 'virtualport.type' : `virtualport.${what}`, details: { first: whereA, second: whereB } });
}

/** Merge `mods` into `acc` the way virNetDevVPortProfileMerge does. */
function mergeInto(acc: MergedVirtualport, mods: VirtualportLevel): void {
  if (mods.type !== undefined) {
    if (acc.type !== undefined && acc.type !== mods.type) throw conflict('type', acc.type, acc.sources.type!, mods.type, mods.where);
    if (acc.type === undefined) {
      acc.type = mods.type;
      acc.sources.type = mods.where;
    }
  }
  // libvirt merges 802.1Qbg parameters only while the merged type is 802.1Qbg or still unknown.
  if (acc.type !== undefined && acc.type !== VIRTUALPORT_QBG) return;
  for (const { key } of QBG_PARAMETERS) {
    const v = mods.parameters[key];
    if (v === undefined) continue;
    const have = acc.parameters[key];
    if (have !== undefined && have !== v) throw conflict(attrOf(key), have, acc.sources[key]!, v, mods.where);
    if (have === undefined) {
      (acc.parameters as Record<string, unknown>)[key] = v;
      acc.sources[key] = mods.where;
    }
  }
}

/**
 * The virtualport libvirt will use for a NIC, from the interface, network and portgroup levels (any may be absent).
 * undefined when no level names a virtualport type: libvirt then uses none at all, whatever parameters are given.
 */
export function mergeVirtualports(
  fromInterface?: VirtualportLevel,
  fromNetwork?: VirtualportLevel,
  fromPortgroup?: VirtualportLevel,
): MergedVirtualport | undefined {
  const levels = [fromInterface, fromNetwork, fromPortgroup];
  if (levels.every((l) => l === undefined || l.type === undefined)) return undefined;
  const acc: MergedVirtualport = { parameters: {}, sources: {} };
  if (fromInterface) {
    if (fromInterface.type !== undefined) {
      acc.type = fromInterface.type;
      acc.sources.type = fromInterface.where;
    }
    acc.parameters = { ...fromInterface.parameters };
    for (const k of Object.keys(fromInterface.parameters) as QbgParameterKey[]) acc.sources[k] = fromInterface.where;
  }
  if (fromNetwork) mergeInto(acc, fromNetwork);
  if (fromPortgroup) mergeInto(acc, fromPortgroup);
  return acc;
}

/**
 * libvirt's completeness check after the merge (virNetDevVPortProfileCheckComplete with generateMissing): an
 * 802.1Qbg virtualport needs managerid, typeid and typeidversion; a missing instanceid libvirt makes up at random.
 */
export function checkComplete(merged: MergedVirtualport | undefined, where: string): void {
  if (!merged || merged.type !== VIRTUALPORT_QBG) return;
  for (const key of ['managerId', 'typeId', 'typeIdVersion'] as const) {
    if (merged.parameters[key] === undefined) {
      const e = qbgError(
        'QBG_ERR_XML_SHAPE',
        `${where}: missing ${attrOf(key)} in <virtualport type='802.1Qbg'> after merging interface, network and portgroup; libvirt will refuse to start the NIC`,
      );
      throw new QbgError(e.code, e.message, { field: `virtualport.${attrOf(key)}` });
    }
  }
}

/** What a network document contributes to one NIC: the network-level and the chosen portgroup's virtualport. */
export interface NetworkLevels {
  network: string;
  portgroup?: string;
  fromNetwork?: VirtualportLevel;
  fromPortgroup?: VirtualportLevel;
}

/**
 * Pick the portgroup libvirt would (the one named by the interface, else the network's default='yes' one) and
 * read both levels. libvirt silently uses no portgroup when the named one does not exist; qbg refuses, because
 * the NIC would then run without the VSI type its admin meant.
 */
export function networkLevels(networkDoc: XmlNode[], portgroup: string | undefined): NetworkLevels {
  const root = rootElement(networkDoc);
  if (tagName(root) !== 'network') {
    throw new QbgError('QBG_ERR_XML_SHAPE', `network XML must have <network> as its root, got <${tagName(root)}>`, { field: 'network' });
  }
  const nameEl = firstChild(root, 'name');
  const name = nameEl ? textContent(nameEl).trim() : '(unnamed)';
  const groups = childElements(root, 'portgroup');
  const pg = portgroup !== undefined ? groups.find((g) => attr(g, 'name') === portgroup) : groups.find((g) => attr(g, 'default') === 'yes');
  if (portgroup !== undefined && !pg) {
    const known = groups.map((g) => attr(g, 'name')).join(', ') || 'none';
    throw new QbgError('QBG_ERR_XML_SHAPE', `network ${name} has no portgroup ${portgroup} (portgroups: ${known})`, { field: 'portgroup' });
  }
  const pgName = pg ? attr(pg, 'name') : undefined;
  const out: NetworkLevels = { network: name };
  const fromNetwork = virtualportOf(root, `network ${name}`);
  if (fromNetwork) out.fromNetwork = fromNetwork;
  if (pg && pgName !== undefined) {
    out.portgroup = pgName;
    const fromPortgroup = virtualportOf(pg, `portgroup ${pgName} of network ${name}`);
    if (fromPortgroup) out.fromPortgroup = fromPortgroup;
  }
  return out;
}

/**
 * The whole check for one <interface type='network'> against its network: merge, then completeness. Returns the
 * virtualport libvirt will use (undefined: none). `fromInterface` is the interface's own level when it is not the
 * one in the tree (the domain rewrite checks the virtualport it is about to write).
 */
export function mergeInterfaceWithNetwork(
  iface: XmlNode,
  ifaceWhere: string,
  networkDoc: XmlNode[],
  fromInterface: VirtualportLevel | undefined = virtualportOf(iface, ifaceWhere),
): MergedVirtualport | undefined {
  const source = firstChild(iface, 'source');
  const levels = networkLevels(networkDoc, source ? attr(source, 'portgroup') : undefined);
  const merged = mergeVirtualports(fromInterface, levels.fromNetwork, levels.fromPortgroup);
  checkComplete(merged, ifaceWhere);
  return merged;
}
