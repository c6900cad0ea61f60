// What qbg asks lldpad to do for one VSI (a VM NIC) and what can come back. Pure types: the transports in
// src/lldpad (VDP22 client socket, libvirt-style netlink) implement VsiAssociator; the service layer uses only this.
import type { FilterFormat } from './vsi-type.js';

/** VDP22 request modes, named as lldpad's client protocol names them (vdptool -c mode=…). */
export const VDP_REQUEST_MODES = ['preassoc', 'preassoc-rr', 'assoc', 'deassoc'] as const;
export type VdpRequestMode = (typeof VDP_REQUEST_MODES)[number];

export interface VsiFilter {
  vlan: number; // 0–4095
  mac?: string; // with vlan-mac / vlan-mac-group
  groupId?: number; // with vlan-group / vlan-mac-group
}

export interface VsiRequest {
  /** Station uplink interface (lldpad port), e.g. "eth0" or "s0" in the lab. */
  uplink: string;
  mode: VdpRequestMode;
  /** 16-byte VDP22 manager id, 32 hex digits (see identifiers.parseManagerId2). */
  managerId2: string;
  typeId: number;
  typeIdVersion: number;
  instanceUuid: string;
  filterFormat: FilterFormat;
  filters: VsiFilter[];
}

/**
 * How a request ended. `accepted`: lldpad reported the mode asked for. `rejected`: the bridge (or lldpad) said no,
 * with the VDP reason decoded (src/domain/vdp-reasons.ts). `timeout`: no answer in time (bridge silent).
 * `transport-error`: lldpad unreachable or refused the command itself (bad parameters, unknown interface).
 */
export type VsiOutcome =
  | {
      kind: 'accepted';
      mode: VdpRequestMode;
      latencyMs: number;
      /** The filters lldpad holds after the bridge's answer, when the transport tells them: a filter that asked for
       *  the wildcard VID 0 carries the VID the bridge assigned (802.1Qbg 41.2.9; lldpad takes it, vdp22_cpfid). */
      filters?: VsiFilter[];
    }
  | { kind: 'rejected'; reasonCode: number; reason: string; latencyMs: number }
  | { kind: 'timeout'; afterMs: number }
  | { kind: 'transport-error'; message: string; /** lldpad's client-socket command status (R<status>) when it refused the command */ clifStatus?: number };

/** What lldpad currently holds for one VSI (a query by instance UUID). */
export interface VsiStatus {
  instanceUuid: string;
  mode: VdpRequestMode;
  typeId: number;
  typeIdVersion: number;
  managerId2: string;
  filters: VsiFilter[];
}

/**
 * Something lldpad tells us without being asked for this request: the bridge ended a VSI (unsolicited
 * de-associate), or the association was lost (keep-alive not acknowledged / bridge gone).
 */
export interface VsiEvent {
  kind: 'deassociated-by-bridge' | 'lost';
  instanceUuid: string;
  uplink?: string;
  reasonCode?: number;
  reason?: string;
  at: string;
}

export interface VsiAssociator {
  request(req: VsiRequest, opts?: { timeoutMs?: number }): Promise<VsiOutcome>;
  /** undefined = lldpad does not hold this VSI. Throws QBG_ERR_LLDPAD_UNREACHABLE when lldpad cannot be asked. */
  query(uplink: string, instanceUuid: string): Promise<VsiStatus | undefined>;
  onEvent(listener: (e: VsiEvent) => void): () => void;
  /**
   * A VSI lldpad lists but the bridge has not granted (hints 255: no answer yet or ever), which query() reports as not
   * held; undefined when lldpad lists nothing unanswered for the UUID. Optional: only the client socket can tell.
   */
  unanswered?(uplink: string, instanceUuid: string): Promise<{ mode: VdpRequestMode; hints: number } | undefined>;
  /** True while lldpad answers (a ping); also tells its pid so a restart is noticed. */
  ping(): Promise<{ ok: boolean; pid?: number }>;
  close(): Promise<void>;
}
