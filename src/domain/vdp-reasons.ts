// One table of every VDP reason/status code qbg can meet, with a text an admin understands. Both lldpad paths
// import it: the VDP22 client socket (event "hints") and the libvirt-style netlink path (IFLA_PORT_RESPONSE).
//
// Where the numbers come from (checked against intel/openlldp include/qbg_vdp22.h, qbg_vdp22def.h, qbg/vdp22.c,
// vdptool.c, lldpad_status.h, qbg_vdp22_clif.h, and linux include/uapi/linux/if_link.h):
// - lldpad's VDP22 module reports a 16-bit response = status | (state-machine errors << 8)   (vdp22_back()):
//   low byte = the bridge's status byte without the ACK/reserved bits: reason in the low nibble
//   (802.1Qbg-2012 clause 41), 0x10 hard-error bit, 0x20 keep bit; or 252–255 lldpad's own "no answer" values.
//   high byte = bit 0 keep-alive timeout, bit 1 ACK timeout, bit 2 transmission error.
//   e.g. 1279 = 0x4ff = transmission error + no response (seen with the uplink down).
// - The kernel's IFLA_PORT_RESPONSE enum (if_link.h) is the pre-standard VDP 0.2 list (3 = unused VTID …) plus
//   the port-profile values from 0x100. The ratified standard reuses 3–5 with other meanings, so a code is only
//   meaningful with its dialect: 'vdp22' (lldpad's VDP22 module, the default) or 'port' (kernel enum).
// - lldpad's client socket answers every command with R + a 2-hex-digit command status (lldpad_status.h).

export type VdpReasonSource =
  | 'vdp22-status' // 802.1Qbg-2012 reason in the low nibble of the status byte
  | 'vdp22-status-bit' // hard / keep bits of the status byte
  | 'lldpad-vdp22' // lldpad's own low-byte values (no answer, timeout …)
  | 'lldpad-vdp22-error' // lldpad's state-machine error bits (high byte)
  | 'port-vdp' // kernel PORT_VDP_RESPONSE_* (pre-standard VDP 0.2)
  | 'port-profile' // kernel PORT_PROFILE_RESPONSE_*
  | 'lldpad-clif'; // command status of lldpad's client socket (R<status>)

export interface VdpReason {
  source: VdpReasonSource;
  code: number;
  /** Stable, upper-case name; tests and logs use it, not the text. */
  name: string;
  /** What happened, in words an admin can act on. */
  text: string;
}

/** A decoded response: one code may carry several parts (e.g. "transmission error" + "no response"). */
export interface DecodedVdpReason {
  code: number;
  name: string;
  text: string;
  success: boolean;
  parts: VdpReason[];
}

export type VdpReasonDialect = 'vdp22' | 'port';

// prettier-ignore
export const VDP_REASONS: readonly VdpReason[] = Object.freeze([
  { source: 'vdp22-status', code: 0, name: 'SUCCESS', text: 'accepted by the bridge' },
  { source: 'vdp22-status', code: 1, name: 'INVALID_FORMAT', text: 'the bridge found the VDP request malformed (VDP TLV format is invalid)' },
  { source: 'vdp22-status', code: 2, name: 'INSUFFICIENT_RESOURCES', text: 'the bridge has no resources left for this VSI (insufficient resources at bridge)' },
  { source: 'vdp22-status', code: 3, name: 'VSI_MANAGER_UNREACHABLE', text: 'the bridge could not contact the VSI manager to check the VSI type (unable to contact VSI manager)' },
  { source: 'vdp22-status', code: 4, name: 'OTHER_FAILURE', text: 'the bridge refused the VSI without a specific reason (other failure)' },
  { source: 'vdp22-status', code: 5, name: 'INVALID_FILTER', text: 'the bridge refused the VLAN id, group id or MAC address of the filter (invalid VID, GroupID or MAC address)' },

  { source: 'vdp22-status-bit', code: 0x10, name: 'HARD_ERROR', text: 'hard error: the bridge will refuse this request until something changes' },
  { source: 'vdp22-status-bit', code: 0x20, name: 'KEPT_PREVIOUS_STATE', text: 'the bridge kept the state the VSI had before this request' },

  { source: 'lldpad-vdp22', code: 252, name: 'DEASSOCIATED_BY_BRIDGE', text: 'the bridge de-associated the VSI (de-assoc received from switch)' },
  { source: 'lldpad-vdp22', code: 253, name: 'TIMEOUT', text: 'no answer from the bridge in time' },
  { source: 'lldpad-vdp22', code: 254, name: 'REJECTED_STATE_KEPT', text: 'the bridge rejected the request and kept the state before it' },
  { source: 'lldpad-vdp22', code: 255, name: 'NO_RESPONSE', text: 'no response from the bridge' },

  { source: 'lldpad-vdp22-error', code: 0x100, name: 'KEEPALIVE_TIMEOUT', text: 'the bridge stopped answering keep-alives: the association is lost (keepalive timeout)' },
  { source: 'lldpad-vdp22-error', code: 0x200, name: 'ACK_TIMEOUT', text: 'the bridge did not acknowledge the request: is EVB enabled on the bridge port and is the bridge running VDP in bridge role? (ack not received from bridge)' },
  { source: 'lldpad-vdp22-error', code: 0x400, name: 'TRANSMISSION_ERROR', text: 'lldpad could not send the request: uplink down or EVB/ECP not running on it (transmission error)' },

  { source: 'port-vdp', code: 0, name: 'SUCCESS', text: 'accepted by the bridge' },
  { source: 'port-vdp', code: 1, name: 'INVALID_FORMAT', text: 'the bridge found the VDP request malformed' },
  { source: 'port-vdp', code: 2, name: 'INSUFFICIENT_RESOURCES', text: 'the bridge has no resources left for this VSI' },
  { source: 'port-vdp', code: 3, name: 'UNUSED_VTID', text: 'the bridge does not know this VSI type id (unused VTID)' },
  { source: 'port-vdp', code: 4, name: 'VTID_VIOLATION', text: 'the VSI violates its VSI type (VTID violation)' },
  { source: 'port-vdp', code: 5, name: 'VTID_VERSION_VIOLATION', text: 'the bridge does not accept this VSI type version (VTID version violation)' },
  { source: 'port-vdp', code: 6, name: 'OUT_OF_SYNC', text: 'station and bridge disagree about this VSI (out of sync)' },

  { source: 'port-profile', code: 0x100, name: 'PROFILE_SUCCESS', text: 'the port profile was applied' },
  { source: 'port-profile', code: 0x101, name: 'PROFILE_IN_PROGRESS', text: 'the request is still in progress' },
  { source: 'port-profile', code: 0x102, name: 'PROFILE_INVALID', text: 'the port profile request is invalid' },
  { source: 'port-profile', code: 0x103, name: 'PROFILE_BAD_STATE', text: 'the port is in a state where this request is not allowed' },
  { source: 'port-profile', code: 0x104, name: 'PROFILE_INSUFFICIENT_RESOURCES', text: 'no resources left for this port profile' },
  { source: 'port-profile', code: 0x105, name: 'PROFILE_ERROR', text: 'the port profile request failed' },

  { source: 'lldpad-clif', code: 0, name: 'CMD_SUCCESS', text: 'lldpad accepted the command' },
  { source: 'lldpad-clif', code: 1, name: 'CMD_FAILED', text: 'the command failed' },
  { source: 'lldpad-clif', code: 2, name: 'CMD_DEVICE_NOT_FOUND', text: 'lldpad does not know this interface, or it is down (device not found or inactive)' },
  { source: 'lldpad-clif', code: 3, name: 'CMD_AGENT_NOT_FOUND', text: 'no LLDP agent for this interface' },
  { source: 'lldpad-clif', code: 4, name: 'CMD_INVALID', text: 'lldpad did not understand the command (invalid command)' },
  { source: 'lldpad-clif', code: 5, name: 'CMD_BAD_PARAMS', text: 'lldpad refused the parameters (invalid parameters)' },
  { source: 'lldpad-clif', code: 6, name: 'CMD_PEER_NOT_PRESENT', text: 'the peer feature is not present' },
  { source: 'lldpad-clif', code: 7, name: 'CMD_VERSION_NOT_COMPATIBLE', text: 'client and lldpad versions are not compatible' },
  { source: 'lldpad-clif', code: 8, name: 'CMD_NOT_CAPABLE', text: 'the device is not capable of this' },
  { source: 'lldpad-clif', code: 9, name: 'CMD_NOT_APPLICABLE', text: 'the command does not apply here (e.g. the port runs VDP in bridge role)' },
  { source: 'lldpad-clif', code: 10, name: 'CMD_NO_ACCESS', text: 'access denied: lldpad only accepts commands from root' },
  { source: 'lldpad-clif', code: 11, name: 'CMD_AGENT_NOT_SUPPORTED', text: 'the TLV does not support this agent type' },
  { source: 'lldpad-clif', code: 13, name: 'CMD_VDP_NOT_SUPPORTED', text: 'VDP is not running on this interface: enable EVB on it and wait for the bridge\'s EVB TLV (VDP protocol not supported on interface)' },
  { source: 'lldpad-clif', code: 14, name: 'CMD_VDP_NO_MEMORY', text: 'lldpad is out of memory' },
  { source: 'lldpad-clif', code: 15, name: 'CMD_VDP_BUSY', text: 'a request for this VSI is still in progress (VSI association in progress)' },
]);

function lookup(source: VdpReasonSource, code: number): VdpReason | undefined {
  return VDP_REASONS.find((r) => r.source === source && r.code === code);
}

function unknownPart(source: VdpReasonSource, code: number, note = ''): VdpReason {
  return { source, code, name: `UNKNOWN_${code}`, text: `unknown reason ${code}${note}` };
}

function combine(code: number, parts: VdpReason[], success: boolean): DecodedVdpReason {
  return {
    code,
    name: parts.map((p) => p.name).join('+'),
    text: parts.map((p) => p.text).join('; '),
    success,
    parts,
  };
}

function unknown(code: number): DecodedVdpReason {
  return { code, name: 'UNKNOWN', text: `unknown reason ${String(code)}`, success: false, parts: [] };
}

/**
 * Decode a VDP response code to named parts and a text.
 * dialect 'vdp22' (default): lldpad's VDP22 module (client-socket event "hints", lldpad's IFLA_PORT_RESPONSE).
 * dialect 'port': the kernel's IFLA_PORT_RESPONSE enum (pre-standard VDP, port profiles).
 * Codes that fit neither decode to an entry named UNKNOWN with the text "unknown reason N".
 */
export function decodeVdpReason(code: number, dialect: VdpReasonDialect = 'vdp22'): DecodedVdpReason {
  if (!Number.isInteger(code) || code < 0 || code > 0xffff) return unknown(code);
  if (dialect === 'port') {
    const hit = lookup(code >= 0x100 ? 'port-profile' : 'port-vdp', code);
    return hit ? combine(code, [hit], code === 0 || code === 0x100) : unknown(code);
  }
  if (code === 0) return combine(0, [lookup('vdp22-status', 0)!], true);
  const parts: VdpReason[] = [];
  // lldpad's own errors first: they say why the bridge's status is missing.
  const errors = code >> 8;
  for (let bit = 0; bit < 8; bit++) {
    if (!(errors & (1 << bit))) continue;
    const value = 0x100 << bit;
    parts.push(lookup('lldpad-vdp22-error', value) ?? unknownPart('lldpad-vdp22-error', value, ' (lldpad error bit)'));
  }
  const status = code & 0xff;
  if (status >= 252) {
    parts.push(lookup('lldpad-vdp22', status)!);
  } else if (status !== 0) {
    const reason = status & 0x0f;
    if (reason !== 0 || (status & 0xc0) !== 0) {
      parts.push(lookup('vdp22-status', reason) ?? unknownPart('vdp22-status', reason, ' (reserved by 802.1Qbg-2012)'));
    }
    for (const bit of [0x10, 0x20]) if (status & bit) parts.push(lookup('vdp22-status-bit', bit)!);
    for (const bit of [0x40, 0x80]) if (status & bit) parts.push(unknownPart('vdp22-status-bit', bit, ' (status bit)'));
  }
  return combine(code, parts, false);
}

/** Decode the status of an R reply on lldpad's client socket (R05 → CMD_BAD_PARAMS). */
export function decodeClifStatus(code: number): VdpReason {
  return lookup('lldpad-clif', code) ?? unknownPart('lldpad-clif', code, ' (lldpad command status)');
}

/**
 * Reasons that say the same request will never be accepted, so repeating it only loads lldpad and the bridge: the
 * request is malformed (invalid format, an invalid filter such as an all-zero MAC or a VLAN the bridge refuses),
 * names a VSI type the bridge does not know or forbids, or the bridge set the hard-error bit ("refuse until
 * something changes"). Everything else (no resources, VSI manager unreachable, timeouts, lldpad busy) may pass later.
 */
const PERMANENT: ReadonlySet<string> = new Set([
  'vdp22-status:1', // INVALID_FORMAT
  'vdp22-status:5', // INVALID_FILTER
  'vdp22-status-bit:16', // HARD_ERROR
  'port-vdp:1', // INVALID_FORMAT
  'port-vdp:3', // UNUSED_VTID: the bridge does not know the VSI type
  'port-vdp:4', // VTID_VIOLATION
  'port-vdp:5', // VTID_VERSION_VIOLATION
  'port-profile:258', // PROFILE_INVALID
]);

/** lldpad client-socket statuses that refuse the command itself, whatever the bridge does (CMD_INVALID, CMD_BAD_PARAMS,
 *  CMD_NOT_APPLICABLE: the port runs VDP in bridge role, CMD_NO_ACCESS). CMD_VDP_BUSY / DEVICE_NOT_FOUND pass later. */
const PERMANENT_CLIF: ReadonlySet<number> = new Set([4, 5, 9, 10]);

/** True when a failed response code says the request can never succeed as it is (see PERMANENT). */
export function isPermanentVdpFailure(code: number, dialect: VdpReasonDialect = 'vdp22'): boolean {
  const d = decodeVdpReason(code, dialect);
  return !d.success && d.parts.some((p) => PERMANENT.has(`${p.source}:${p.code}`));
}

/** True when lldpad's command status (R<status>) refuses the command whatever is retried (see PERMANENT_CLIF). */
export function isPermanentClifStatus(status: number): boolean {
  return PERMANENT_CLIF.has(status);
}

/** True when a response code means the request was carried out. */
export function isVdpSuccess(code: number, dialect: VdpReasonDialect = 'vdp22'): boolean {
  return decodeVdpReason(code, dialect).success;
}
