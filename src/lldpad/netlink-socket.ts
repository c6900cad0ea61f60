// One rtnetlink socket for talking to lldpad the way libvirt does, on node-netlink's RawNetlinkSocket only.
// Why not node-netlink's RtNetlinkSocket: lldpad answers RTM_GETLINK with an NLMSG_DONE that carries the data, which
// the library treats as an empty multipart terminator (getLink() resolves []). We frame and parse bytes ourselves
// (src/domain/port-profile.ts) and match replies by sequence number and sender port.
// Every send has a callback and the socket always has an 'error' listener: a failed send without a callback is
// emitted as 'error', and an unhandled 'error' took the whole process down in the lab.
import { EventEmitter } from 'node:events';
import { constants as osConstants } from 'node:os';
import { createRequire } from 'node:module';
import type { RawNetlinkSocket as RawSocketType } from 'netlink';
import { decodeNetlinkMessages, type NetlinkMessage } from '../domain/port-profile.js';

const NETLINK_ROUTE = 0;

/** errno number → name (ECONNREFUSED, EPROTONOSUPPORT…); netlink errors come as negative numbers. */
export function errnoName(errno: number): string {
  const n = Math.abs(errno);
  const hit = Object.entries(osConstants.errno).find(([, v]) => v === n);
  return hit ? hit[0] : `errno ${n}`;
}

export class NetlinkSendError extends Error {
  constructor(
    readonly code: string,
    readonly port: number,
    message: string,
  ) {
    super(message);
    this.name = 'NetlinkSendError';
  }
}

export class NetlinkReplyTimeout extends Error {
  constructor(readonly port: number, readonly ms: number) {
    super(`no netlink reply from port ${port} within ${ms} ms`);
    this.name = 'NetlinkReplyTimeout';
  }
}

interface Pending {
  port: number;
  resolve: (m: NetlinkMessage) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Emits 'unsolicited' (msg, fromPort) for messages nobody waits for: lldpad's RTM_SETLINK when the bridge ends a
 * VSI arrives this way, addressed to the port that sent the SETLINK.
 */
export class LldpadNetlinkSocket extends EventEmitter {
  private readonly raw: RawSocketType;
  private readonly pending = new Map<number, Pending>();
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private closed = false;

  constructor() {
    super();
    // node-netlink is CommonJS with a native binding; loading it lazily keeps importers of this module
    // (type-only users, non-Linux dev machines) from loading the addon.
    const require = createRequire(import.meta.url);
    const { RawNetlinkSocket } = require('netlink') as typeof import('netlink');
    this.raw = new RawNetlinkSocket(NETLINK_ROUTE);
    this.raw.unref(); // pending reply timers keep the process alive while a request runs
    this.raw.on('error', (err) => this.emit('socket-error', err));
    this.raw.on('message', (buf, rinfo) => this.receive(buf, rinfo.port));
  }

  /** Our netlink port id: what lldpad records as the requester and sends events to (not process.pid). */
  get port(): number {
    return this.raw.address().port;
  }

  nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0 || 1;
    return this.seq;
  }

  private receive(buf: Buffer, fromPort: number): void {
    let msgs: NetlinkMessage[];
    try {
      msgs = decodeNetlinkMessages(buf);
    } catch (e) {
      this.emit('invalid', e, buf, fromPort);
      return;
    }
    for (const m of msgs) {
      const p = this.pending.get(m.seq);
      if (p && p.port === fromPort) {
        this.pending.delete(m.seq);
        clearTimeout(p.timer);
        p.resolve(m);
      } else {
        this.emit('unsolicited', m, fromPort);
      }
    }
  }

  /** Send one datagram to `port` (0 = kernel); rejects with NetlinkSendError (e.g. ECONNREFUSED: nobody there). */
  send(buf: Buffer, port: number): Promise<void> {
    if (this.closed) return Promise.reject(new NetlinkSendError('ECLOSED', port, 'netlink socket is closed'));
    return new Promise((resolve, reject) => {
      try {
        this.raw.send(buf, { port }, (err) => {
          if (err) {
            const code = err.code ?? errnoName(err.errno ?? 0);
            reject(new NetlinkSendError(code, port, `netlink send to port ${port} failed: ${code}`));
          } else resolve();
        });
      } catch (e) {
        reject(new NetlinkSendError('ESEND', port, `netlink send to port ${port} failed: ${(e as Error).message}`));
      }
    });
  }

  /** Send a request whose header carries `seq` and wait for the first message from `port` with that seq. */
  async exchange(buf: Buffer, seq: number, port: number, timeoutMs: number): Promise<NetlinkMessage> {
    const reply = new Promise<NetlinkMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new NetlinkReplyTimeout(port, timeoutMs));
      }, timeoutMs);
      this.pending.set(seq, { port, resolve, reject, timer });
    });
    try {
      await this.send(buf, port);
    } catch (e) {
      const p = this.pending.get(seq);
      if (p) {
        clearTimeout(p.timer);
        this.pending.delete(seq);
      }
      reply.catch(() => undefined);
      throw e;
    }
    return reply;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const [seq, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new NetlinkSendError('ECLOSED', p.port, 'netlink socket closed while waiting for a reply'));
      this.pending.delete(seq);
    }
    try {
      this.raw.close();
    } catch {
      // already closed by the native side
    }
  }
}
