// A libvirt VEPA network: <forward mode='vepa'> over a pool of uplinks, one <portgroup> per qbg profile. Each
// portgroup carries its VSI type's virtualport WITHOUT an instanceid: an instance id names one NIC, and one given
// here would be shared by every NIC of the portgroup (or clash with the one libvirt generates per interface).
import { create } from './xmlbuilder.js';
import { fieldError } from '../domain/errors.js';
import { parseIfname, parseName, parseUuid } from '../domain/identifiers.js';
import type { VsiTypeLookup } from '../domain/vsi-type.js';
import { lookupProfile } from './profile-lookup.js';
import { buildVirtualport, parametersOfType } from './virtualport.js';

export interface PortgroupRequest {
  name: string;
  profile: string;
  version?: number;
  /** the portgroup NICs get when they name none; at most one per network */
  default?: boolean;
}

export interface VepaNetworkRequest {
  name: string;
  uuid?: string;
  uplinks: string[];
  portgroups: PortgroupRequest[];
}

export function vepaNetworkXml(types: VsiTypeLookup, req: VepaNetworkRequest): string {
  const name = parseName(req.name, 'name');
  if (!Array.isArray(req.uplinks) || req.uplinks.length === 0) {
    throw fieldError('uplinks', 'QBG_ERR_FIELD_REQUIRED', 'uplinks (at least one uplink for <forward mode="vepa">)');
  }
  const uplinks = req.uplinks.map((u, i) => parseIfname(u, `uplinks[${i}]`));
  uplinks.forEach((u, i) => {
    if (uplinks.indexOf(u) !== i) throw fieldError(`uplinks[${i}]`, 'QBG_ERR_BAD_REQUEST', `uplink ${u} is listed twice`);
  });
  const portgroups = Array.isArray(req.portgroups) ? req.portgroups : [];
  const seen = new Set<string>();
  let defaults = 0;
  const groups = portgroups.map((pg, i) => {
    const field = `portgroups[${i}]`;
    const pgName = parseName(pg?.name, `${field}.name`);
    // libvirt refuses two portgroups of one name and more than one default
    if (seen.has(pgName)) throw fieldError(`${field}.name`, 'QBG_ERR_BAD_REQUEST', `portgroup ${pgName} is listed twice`);
    seen.add(pgName);
    if (pg.default === true && ++defaults > 1) throw fieldError(`${field}.default`, 'QBG_ERR_BAD_REQUEST', 'only one portgroup may be the default');
    const t = lookupProfile(types, pg.profile, pg.version, `${field}.profile`, `${field}.version`);
    return { name: pgName, isDefault: pg.default === true, params: parametersOfType(t, `${field}.profile`) };
  });

  const doc = create();
  const net = doc.ele('network');
  net.ele('name').txt(name).up();
  if (req.uuid !== undefined) net.ele('uuid').txt(parseUuid(req.uuid, 'uuid')).up();
  const fwd = net.ele('forward', { mode: 'vepa' });
  for (const dev of uplinks) fwd.ele('interface', { dev }).up();
  for (const g of groups) {
    const pg = net.ele('portgroup', { name: g.name, ...(g.isDefault ? { default: 'yes' } : {}) });
    buildVirtualport(pg, g.params);
  }
  return doc.end({ prettyPrint: true, headless: true }) + '\n';
}
