// The host's macvtap devices going up, from rtnetlink's link group. libvirt keeps a guest's macvtap down while the
// guest's CPUs are stopped and brings it up when they run (and down again on pause): measured on libvirt 9.0,
// `virsh start --paused` → DOWN, `resume` → UP, `suspend` → DOWN. For an incoming live migration that is the one
// signal on the destination that the migration has finished: libvirt calls no hook then (docs/hooks.md).
// Only the network namespace this process runs in is watched.
import { createRequire } from 'node:module';
import { EventEmitter } from 'node:events';
import type { RtNetlinkSocket } from 'netlink';

export interface GuestLinkUp {
  /** the macvtap device, e.g. macvtap0 */
  ifname: string;
  /** its MAC: the guest NIC's own (libvirt gives the macvtap the guest's address) */
  mac: string;
  /** the device it sits on (the uplink), when known */
  lower?: string;
}

const IFLA_INFO_KIND = 1;

/** IFLA_LINKINFO's IFLA_INFO_KIND string ('macvtap', 'veth', …), or undefined. */
export function linkKind(linkinfo: Buffer | undefined): string | undefined {
  let off = 0;
  while (linkinfo && off + 4 <= linkinfo.length) {
    const len = linkinfo.readUInt16LE(off);
    const type = linkinfo.readUInt16LE(off + 2) & 0x3fff;
    if (len < 4) return undefined;
    if (type === IFLA_INFO_KIND) return linkinfo.subarray(off + 4, off + len).toString('latin1').replace(/\0.*$/s, '');
    off += (len + 3) & ~3;
  }
  return undefined;
}

/** Emits 'up' (GuestLinkUp) when a macvtap device goes from down to up. */
export class GuestLinks extends EventEmitter {
  private readonly socket: RtNetlinkSocket;
  /** ifindex → name, for the lower device of a macvtap (learned from every link message and one dump at open) */
  private readonly names = new Map<number, string>();

  constructor() {
    super();
    // node-netlink is CommonJS with a native binding: loaded only when a GuestLinks is made
    const require = createRequire(import.meta.url);
    const { createRtNetlink } = require('netlink') as typeof import('netlink');
    this.socket = createRtNetlink();
    this.socket.socket.on('error', (err) => this.emit('socket-error', err));
    this.socket.addMembership('LINK');
    this.socket.on('message', (msgs) => {
      for (const m of msgs) if (m.kind === 'link') this.link(m);
    });
    void this.socket.getLinks().then(
      (links) => {
        for (const l of links) if (l.data.index !== undefined && l.attrs.ifname) this.names.set(l.data.index, l.attrs.ifname);
      },
      (err: unknown) => this.emit('socket-error', err),
    );
  }

  private link(m: { type?: unknown; data: { index?: number; flags?: { up?: true }; change?: { up?: true } }; attrs: { ifname?: string; address?: Buffer; link?: Buffer; linkinfo?: Buffer } }): void {
    const { data, attrs } = m;
    if (data.index !== undefined && attrs.ifname) this.names.set(data.index, attrs.ifname);
    // RTM_NEWLINK whose change mask has IFF_UP and whose flags have it: it just went up
    if (!data.change?.up || !data.flags?.up || !attrs.ifname || !attrs.address || attrs.address.length !== 6) return;
    if (linkKind(attrs.linkinfo) !== 'macvtap') return;
    const lowerIndex = attrs.link && attrs.link.length >= 4 ? attrs.link.readUInt32LE(0) : undefined;
    const lower = lowerIndex !== undefined ? this.names.get(lowerIndex) : undefined;
    const up: GuestLinkUp = { ifname: attrs.ifname, mac: [...attrs.address].map((b) => b.toString(16).padStart(2, '0')).join(':') };
    if (lower) up.lower = lower;
    this.emit('up', up);
  }

  close(): void {
    this.socket.socket.close();
  }
}
