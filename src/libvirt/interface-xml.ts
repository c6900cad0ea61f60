// <interface> elements for a VM NIC on an 802.1Qbg uplink: a macvtap NIC ('direct') carrying the whole
// virtualport, or a NIC of a libvirt VEPA network ('network') whose portgroup carries the VSI type.
import { fieldError } from '../domain/errors.js';
import { parseIfname, parseMac, parseName, parseUuid } from '../domain/identifiers.js';
import { stableInstanceId } from '../domain/instance-uuid.js';
import type { VsiTypeLookup } from '../domain/vsi-type.js';
import { lookupProfile } from './profile-lookup.js';
import { DIRECT_MODES, parametersOfType, virtualportSpec, type DirectMode, type QbgParameters } from './virtualport.js';
import { renderElement, type XmlElementSpec } from './xml-template.js';

export interface DirectInterfaceRequest {
  /** qbg VSI type (profile) name */
  profile: string;
  /** pin a typeIdVersion; default: the type's current version */
  version?: number;
  /** the physical uplink the macvtap sits on (<source dev>) */
  uplink: string;
  mac: string;
  /** macvtap mode; VEPA (the default) hairpins all traffic through the adjacent bridge */
  mode?: DirectMode;
  /** <model type>; default virtio */
  model?: string;
  /** explicit VSI instance id; else derived from vmUuid + mac; else left out (libvirt then picks a random one per start) */
  instanceId?: string;
  vmUuid?: string;
}

export interface NetworkInterfaceRequest {
  /** libvirt network name (<source network>) */
  network: string;
  /** portgroup carrying the VSI type; default: the network's default portgroup */
  portgroup?: string;
  mac: string;
  model?: string;
  instanceId?: string;
  vmUuid?: string;
  /** optionally repeat the profile's parameters at interface level (libvirt accepts equal values at two levels) */
  profile?: string;
  version?: number;
}

const MODEL_RE = /^[A-Za-z0-9_-]{1,32}$/; // libvirt's model type pattern, with a length cap

function parseModel(v: unknown): string {
  if (v === undefined) return 'virtio';
  if (typeof v !== 'string' || !MODEL_RE.test(v)) {
    throw fieldError('model', 'QBG_ERR_FIELD_TYPE', 'model', 'a NIC model like virtio, e1000e (1–32 of letters, digits, "_", "-")', v);
  }
  return v;
}

function parseMode(v: unknown): DirectMode {
  if (v === undefined) return 'vepa';
  if (!(DIRECT_MODES as readonly unknown[]).includes(v)) throw fieldError('mode', 'QBG_ERR_ENUM', 'mode', DIRECT_MODES.join(', '), v);
  return v as DirectMode;
}

/** The instance id a NIC gets: explicit, else stable from VM UUID + MAC, else none (libvirt's random one). */
export function instanceIdFor(instanceId: unknown, vmUuid: unknown, mac: string): string | undefined {
  if (instanceId !== undefined) return parseUuid(instanceId, 'instanceId');
  if (vmUuid !== undefined) return stableInstanceId(parseUuid(vmUuid, 'vmUuid'), mac);
  return undefined;
}

/** <interface type='direct'> with the profile's full virtualport. */
export function directInterfaceXml(types: VsiTypeLookup, req: DirectInterfaceRequest): string {
  const uplink = parseIfname(req.uplink, 'uplink');
  const mac = parseMac(req.mac, 'mac');
  const mode = parseMode(req.mode);
  const model = parseModel(req.model);
  const params: QbgParameters = parametersOfType(lookupProfile(types, req.profile, req.version), 'profile');
  const instanceId = instanceIdFor(req.instanceId, req.vmUuid, mac);
  if (instanceId) params.instanceId = instanceId;

  return renderElement({
    name: 'interface',
    attrs: [['type', 'direct']],
    children: [
      { name: 'mac', attrs: [['address', mac]] },
      { name: 'source', attrs: [['dev', uplink], ['mode', mode]] },
      { name: 'model', attrs: [['type', model]] },
      virtualportSpec(params),
    ],
  });
}

/** <interface type='network'> naming the VEPA network and portgroup; the interface adds only what is NIC-specific. */
export function networkInterfaceXml(types: VsiTypeLookup, req: NetworkInterfaceRequest): string {
  const network = parseName(req.network, 'network');
  const portgroup = req.portgroup === undefined ? undefined : parseName(req.portgroup, 'portgroup');
  const mac = parseMac(req.mac, 'mac');
  const model = parseModel(req.model);
  const params: QbgParameters = req.profile === undefined ? {} : parametersOfType(lookupProfile(types, req.profile, req.version), 'profile');
  if (req.profile === undefined && req.version !== undefined) {
    throw fieldError('version', 'QBG_ERR_BAD_REQUEST', 'version is only meaningful together with profile');
  }
  const instanceId = instanceIdFor(req.instanceId, req.vmUuid, mac);
  if (instanceId) params.instanceId = instanceId;

  const children: XmlElementSpec[] = [
    { name: 'mac', attrs: [['address', mac]] },
    { name: 'source', attrs: portgroup !== undefined ? [['network', network], ['portgroup', portgroup]] : [['network', network]] },
    { name: 'model', attrs: [['type', model]] },
  ];
  if (Object.keys(params).length > 0) children.push(virtualportSpec(params));
  return renderElement({ name: 'interface', attrs: [['type', 'network']], children });
}
