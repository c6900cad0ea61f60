// Parse lldptool's pretty print of the ratified EVB TLV (`lldptool -t [-n] -i IF -g ncb -V evb`). lldptool has no
// machine-readable form of the TLV itself (its `-c` key=value form shows only the local configuration), so the
// peer's TLV and the negotiated values must come from this text. Layout (openlldp lldp_evb22_clif.c show_tlv):
//   EVB Configuration TLV
//   	bridge:bgid,rrcap(0x6)
//   	station:sgid,rrreq,rrstat(0xd)
//   	retries:3 rte:8
//   	mode:station r/l:1 rwd:20
//   	r/l:1 rka:20
// We read the hex status bytes, not the words, because the words hide the two-bit RRSTAT value.

/** RRSTAT (802.1Qbg-2012 D.2.13): what the bridge did with the station's reflective relay request. */
export type RrStatus = 'no' | 'yes' | 'reserved' | 'unknown';

export interface EvbTlv {
  bridge: { status: number; bgid: boolean; rrcap: boolean; rrctr: boolean };
  station: { status: number; sgid: boolean; rrreq: boolean; rrstat: RrStatus };
  /** ECP maximum retries (0–7) */
  retries: number;
  /** ECP retransmission exponent: timeout is 10 µs × 2^rte */
  rte: number;
  mode: 'bridge' | 'station';
  /** VDP resource wait delay exponent, and whether the value is the remote side's (r/l = 1) */
  rwd: number;
  rwdRemote: boolean;
  /** VDP re-init keep-alive exponent, and whether it is the remote side's */
  rka: number;
  rkaRemote: boolean;
}

const RRSTAT: Record<number, RrStatus> = { 0: 'no', 1: 'yes', 2: 'reserved', 3: 'unknown' };

/** Returns undefined when the text holds no EVB TLV (tx disabled locally, or nothing received from the peer). */
export function parseEvbTlvText(text: string): EvbTlv | undefined {
  if (!/EVB Configuration TLV/.test(text)) return undefined;
  const block = text.slice(text.indexOf('EVB Configuration TLV'));
  const hex = (label: string): number | undefined => {
    const m = new RegExp(`${label}:[a-z,]*\\((?:0x)?([0-9a-f]+)\\)`, 'i').exec(block);
    return m ? parseInt(m[1], 16) : undefined;
  };
  const bridgeS = hex('bridge');
  const stationS = hex('station');
  const rr = /retries:(\d+)\s+rte:(\d+)/.exec(block);
  const mode = /mode:(bridge|station)\s+r\/l:(\d)\s+rwd:(\d+)/.exec(block);
  const rka = /\n\s*r\/l:(\d)\s+rka:(\d+)/.exec(block);
  if (bridgeS === undefined || stationS === undefined || !rr || !mode || !rka) return undefined;
  return {
    bridge: { status: bridgeS, bgid: (bridgeS & 0x4) !== 0, rrcap: (bridgeS & 0x2) !== 0, rrctr: (bridgeS & 0x1) !== 0 },
    station: { status: stationS, sgid: (stationS & 0x8) !== 0, rrreq: (stationS & 0x4) !== 0, rrstat: RRSTAT[stationS & 0x3] },
    retries: Number(rr[1]),
    rte: Number(rr[2]),
    mode: mode[1] as 'bridge' | 'station',
    rwd: Number(mode[3]),
    rwdRemote: mode[2] === '1',
    rka: Number(rka[2]),
    rkaRemote: rka[1] === '1',
  };
}

/** Parse `-c` key=value output (one pair a line) into a map with lower-case keys. */
export function parseKeyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (m) out[m[1].toLowerCase()] = m[2];
  }
  return out;
}
