// Raw Ethernet frames on one interface through libpcap (npm `cap`): what a simulated bridge needs to speak
// LLDP and ECP22 next to (or instead of) lldpad. Run it inside the namespace that owns the interface; needs root.
// libpcap sees both directions on a veth, so the filter must exclude our own source MAC.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** The part of a frame port the simulator uses; tests may hand in an in-memory one. */
export interface FramePort {
  readonly ifname: string;
  readonly mac: string;
  send(frame: Buffer): void;
  onFrame(listener: (frame: Buffer) => void): () => void;
  close(): void;
}

interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  on(event: 'packet', listener: (nbytes: number, truncated: boolean) => void): void;
  send(buffer: Buffer, nbytes?: number): void;
  close(): void;
}

const require = createRequire(import.meta.url);

/** MAC of a local interface, read from sysfs (ip netns exec remounts /sys for the namespace). */
export function interfaceMac(ifname: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,14}$/.test(ifname)) throw new RangeError(`not an interface name: ${ifname}`);
  return readFileSync(`/sys/class/net/${ifname}/address`, 'utf8').trim().toLowerCase();
}

/**
 * Open `ifname` for sending and receiving. `ethertypes` selects what is received (default: ECP 0x8940 and
 * LLDP 0x88cc), always excluding frames we sent ourselves.
 */
export function openRawPort(ifname: string, opts: { ethertypes?: number[] } = {}): FramePort {
  const mac = interfaceMac(ifname);
  const types = opts.ethertypes ?? [0x8940, 0x88cc];
  if (types.length === 0 || types.some((t) => !Number.isInteger(t) || t < 0x600 || t > 0xffff)) {
    throw new RangeError(`ethertypes must be integers 0x0600–0xffff, got ${types.join(',')}`);
  }
  const filter = `(${types.map((t) => `ether proto 0x${t.toString(16)}`).join(' or ')}) and not ether src ${mac}`;
  const { Cap } = require('cap') as { Cap: new () => CapHandle };
  const cap = new Cap();
  const buffer = Buffer.alloc(65535);
  const linkType = cap.open(ifname, filter, 1024 * 1024, buffer);
  if (linkType !== 'ETHERNET') {
    cap.close();
    throw new Error(`${ifname}: link type ${linkType}, expected ETHERNET`);
  }
  const listeners = new Set<(frame: Buffer) => void>();
  cap.on('packet', (nbytes) => {
    const frame = Buffer.from(buffer.subarray(0, nbytes)); // the capture buffer is reused for the next packet
    for (const l of listeners) l(frame);
  });
  let closed = false;
  return {
    ifname,
    mac,
    send(frame) {
      if (!closed) cap.send(frame, frame.length);
    },
    onFrame(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      if (closed) return;
      closed = true;
      listeners.clear();
      cap.close();
    },
  };
}
