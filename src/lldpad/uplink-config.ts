// Read an uplink's EVB configuration back from lldpad and apply a desired one idempotently: read, diff, set only
// what differs, read again. The mapping between qbg's setting names and lldptool's keys is written once, here.
import {
  diffEvbSettings,
  evbSettingsOf,
  type EvbRole,
  type EvbSettingChange,
  type EvbSettings,
  type UplinkEvbConfig,
} from '../domain/evb-config.js';
import { qbgError } from '../domain/errors.js';
import type { EvbTlv } from './evb-tlv-text.js';
import type { EvbKey, Lldptool } from './lldptool.js';

/** lldptool key per setting; reflective relay is RRREQ on a station and RRCAP on a bridge. */
function evbKeyFor(field: Exclude<keyof EvbSettings, 'adminStatus'>, role: EvbRole): EvbKey {
  switch (field) {
    case 'evbTx':
      return 'enabletx';
    case 'role':
      return 'evbmode';
    case 'gpid':
      return 'evbgpid';
    case 'reflectiveRelay':
      return role === 'station' ? 'evbrrreq' : 'evbrrcap';
    case 'ecpRetries':
      return 'ecpretries';
    case 'ecpRte':
      return 'ecprte';
    case 'vdpRka':
      return 'vdprka';
    case 'vdpRwd':
      return 'vdprwd';
  }
}

function lldptoolValue(v: EvbSettings[keyof EvbSettings]): string {
  return typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v);
}

/** What the bridge told us in its EVB TLV (802.1Qbg-2012 D.2.13), in qbg's words. */
export interface BridgeAdvertisement {
  /** BGID: the bridge supports VDP group ids */
  groupId: boolean;
  /** RRCAP: the bridge can do reflective relay */
  reflectiveRelayCapable: boolean;
  /** RRCTR: the bridge has turned reflective relay on for this port */
  reflectiveRelayOn: boolean;
  ecpRetries: number;
  ecpRte: number;
  vdpRwd: number;
  vdpRka: number;
}

/** The values the two sides agreed on: our TLV as lldpad now sends it (each the larger of both sides). */
export interface EvbNegotiated {
  ecpRetries: number;
  ecpRte: number;
  vdpRwd: number;
  vdpRka: number;
  /** RRSTAT: whether the bridge granted reflective relay (unknown: nothing heard from it yet) */
  reflectiveRelayStatus: EvbTlv['station']['rrstat'];
}

export interface UplinkReadback {
  uplink: string;
  netns?: string;
  lldpadPid: number;
  actual: EvbSettings;
  /** true once lldpad has received the peer's EVB TLV and processed it (needs our EVB tx on) */
  peerEvbSeen: boolean;
  bridge?: BridgeAdvertisement;
  negotiated?: EvbNegotiated;
}

function parseBoolKey(v: string | undefined): boolean | undefined {
  return v === 'yes' ? true : v === 'no' ? false : undefined;
}

function parseIntKey(v: string | undefined): number | undefined {
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/**
 * Read everything back. `role` picks which reflective-relay key is compared (RRREQ for a station): pass the
 * desired role. Fields lldpad did not answer stay undefined in `actual` and then always count as different.
 */
export async function readUplink(tool: Lldptool, uplink: string, role: EvbRole): Promise<UplinkReadback> {
  const lldpadPid = await tool.ping();
  const adminStatus = await tool.getAdminStatus(uplink);
  const kv = await tool.getEvbConfig(uplink);
  const mode = kv.evbmode === 'bridge' || kv.evbmode === 'station' ? kv.evbmode : undefined;
  const actual = {
    adminStatus,
    evbTx: parseBoolKey(kv.enabletx),
    role: mode,
    gpid: parseBoolKey(kv.evbgpid),
    reflectiveRelay: parseBoolKey(role === 'station' ? kv.evbrrreq : kv.evbrrcap),
    ecpRetries: parseIntKey(kv.ecpretries),
    ecpRte: parseIntKey(kv.ecprte),
    vdpRka: parseIntKey(kv.vdprka),
    vdpRwd: parseIntKey(kv.vdprwd),
  } as EvbSettings;
  const local = await tool.getEvbTlv(uplink, false);
  const peer = await tool.getEvbTlv(uplink, true);
  // lldpad ignores a received EVB TLV while its own EVB tx is off, and a station keeps RRSTAT "unknown" until it
  // has processed one (openlldp lldp_evb22.c evb22_rchange / station_tlv): only then has the exchange happened.
  const peerEvbSeen = !!peer && !!local && (local.mode !== 'station' || local.station.rrstat !== 'unknown');
  const out: UplinkReadback = { uplink, lldpadPid, actual, peerEvbSeen };
  if (tool.netns) out.netns = tool.netns;
  if (peer) {
    out.bridge = {
      groupId: peer.bridge.bgid,
      reflectiveRelayCapable: peer.bridge.rrcap,
      reflectiveRelayOn: peer.bridge.rrctr,
      ecpRetries: peer.retries,
      ecpRte: peer.rte,
      vdpRwd: peer.rwd,
      vdpRka: peer.rka,
    };
  }
  if (local && peerEvbSeen) {
    out.negotiated = {
      ecpRetries: local.retries,
      ecpRte: local.rte,
      vdpRwd: local.rwd,
      vdpRka: local.rka,
      reflectiveRelayStatus: local.station.rrstat,
    };
  }
  return out;
}

export interface ApplyOutcome {
  /** what was different and has been set (from → to) */
  changed: EvbSettingChange[];
  /** still different after applying (should be empty; lldpad accepted but did not keep a value) */
  remaining: EvbSettingChange[];
  /** the role changed: lldpad fixes the VDP22 role when it starts the module, so it needs a restart */
  restartNeeded: boolean;
  readback: UplinkReadback;
}

/** Apply idempotently: nothing is sent to lldpad when everything already matches. */
export async function applyUplink(tool: Lldptool, cfg: UplinkEvbConfig): Promise<ApplyOutcome> {
  const desired = evbSettingsOf(cfg);
  const before = await readUplink(tool, cfg.uplink, cfg.role);
  const changed = diffEvbSettings(desired, before.actual);
  if (changed.length === 0) return { changed, remaining: [], restartNeeded: false, readback: before };

  if (changed.some((c) => c.field === 'adminStatus')) await tool.setAdminStatus(cfg.uplink, desired.adminStatus);
  const pairs = changed
    .filter((c) => c.field !== 'adminStatus')
    .map((c) => [evbKeyFor(c.field as Exclude<keyof EvbSettings, 'adminStatus'>, cfg.role), lldptoolValue(c.desired)] as const);
  await tool.setEvbConfig(cfg.uplink, pairs);

  const after = await readUplink(tool, cfg.uplink, cfg.role);
  if (after.lldpadPid !== before.lldpadPid)
    throw qbgError('QBG_ERR_LLDPAD_UNREACHABLE', tool.netns ? ` in netns ${tool.netns}` : '', `lldpad restarted while applying (pid ${before.lldpadPid} → ${after.lldpadPid})`);
  return {
    changed,
    remaining: diffEvbSettings(desired, after.actual),
    restartNeeded: changed.some((c) => c.field === 'role'),
    readback: after,
  };
}
