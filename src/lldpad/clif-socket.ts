// One connection to lldpad's client socket (abstract unix datagram "\0/com/intel/lldpad", one per network
// namespace) through a tiny python3 helper (clif-helper.py): core Node has no unix datagram sockets, and the npm
// packages tried cannot address an abstract name (see the shared notes). This module owns the helper process,
// matches R replies to commands in send order, hands events to listeners, and keeps the event subscription
// (attach "A80c4") alive across lldpad restarts. Protocol meaning stays in clif-protocol.ts / vdp22-client.ts.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { fieldError, qbgError, type QbgError } from '../domain/errors.js';
import { classifyDatagram, CLIF_PING, encodeAttach, parsePong, VDP22_MODULE_ID, type ClifReply } from './clif-protocol.js';

export interface ClifSocketOptions {
  /** Network namespace of the lldpad to talk to (runs the helper under `ip netns exec`). */
  netns?: string;
  /** python3 to run the helper with; default /usr/bin/python3 when present (a pyenv shim costs ~200 ms). */
  python?: string;
  helperPath?: string;
  /** Module ids to receive events for; default VDP22 (0x80c4). Empty: no attach. */
  attach?: readonly number[];
  /** How long lldpad may take to answer one command (it answers in well under a millisecond). */
  replyTimeoutMs?: number;
  /** Ping period to notice a restarted lldpad between commands; 0 = off. */
  watchIntervalMs?: number;
}

export interface ClifEvent {
  moduleId: number;
  level: number;
  payload: string;
}

export type ClifStatus =
  | { kind: 'attached'; pid: number }
  | { kind: 'restarted'; oldPid: number; pid: number }
  | { kind: 'unreachable'; message: string };

interface Pending {
  seq: number;
  /** Reply body prefix expected for this command: lets a reply skip a timed-out command that never got one. */
  expect: string;
  resolve: (r: ClifReply) => void;
  reject: (e: QbgError) => void;
  timer?: NodeJS.Timeout;
  dead: boolean;
}

const NETNS_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function defaultHelperPath(): string {
  const here = fileURLToPath(new URL('./clif-helper.py', import.meta.url));
  if (existsSync(here)) return here;
  // Built code runs from dist/src/lldpad; tsc does not copy the .py file.
  return here.replace(/\/dist\/src\/lldpad\//, '/src/lldpad/');
}

function expectFor(msg: string): string {
  if (msg.startsWith('M')) return msg.slice(9, 13); // "C3" + command code
  return msg.slice(0, 1); // P → "PPONG…", A → "A", D → "D"
}

export class ClifSocket {
  readonly netns?: string;
  private readonly python: string;
  private readonly helperPath: string;
  private readonly attachIds: readonly number[];
  private readonly replyTimeoutMs: number;
  private child?: ChildProcessWithoutNullStreams;
  private ready?: Promise<void>;
  private stderrTail = '';
  private seq = 0;
  private fifo: Pending[] = [];
  private attaching?: Promise<number>;
  private attachedPid?: number;
  private lastPid?: number;
  private closed = false;
  private watch?: NodeJS.Timeout;
  private readonly eventListeners = new Set<(e: ClifEvent) => void>();
  private readonly statusListeners = new Set<(s: ClifStatus) => void>();

  constructor(opts: ClifSocketOptions = {}) {
    if (opts.netns !== undefined && !NETNS_RE.test(opts.netns)) {
      throw fieldError('netns', 'QBG_ERR_NAME_FORMAT', 'netns', opts.netns);
    }
    this.netns = opts.netns;
    this.python = opts.python ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
    this.helperPath = opts.helperPath ?? defaultHelperPath();
    this.attachIds = opts.attach ?? [VDP22_MODULE_ID];
    this.replyTimeoutMs = opts.replyTimeoutMs ?? 5000;
    const every = opts.watchIntervalMs ?? 1000;
    if (every > 0) {
      this.watch = setInterval(() => void this.checkLldpad(), every);
      this.watch.unref(); // a watchdog must not keep the process alive
    }
  }

  /** lldpad's pid as of the last attach (undefined while not attached). */
  get pid(): number | undefined {
    return this.attachedPid;
  }

  onEvent(listener: (e: ClifEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  onStatus(listener: (s: ClifStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  /** Send one command and get its R reply. Attaches first (once) so no event of this command can be missed. */
  async command(msg: string, timeoutMs = this.replyTimeoutMs): Promise<ClifReply> {
    if (this.attachIds.length > 0) await this.ensureAttached();
    return this.send(msg, timeoutMs);
  }

  /** `P`: lldpad's pid, or a QBG_ERR_LLDPAD_UNREACHABLE rejection. */
  async ping(timeoutMs = this.replyTimeoutMs): Promise<number> {
    const reply = await this.send(CLIF_PING, timeoutMs);
    const pid = parsePong(reply);
    if (pid === undefined) throw this.unreachable(`unexpected answer to ping: R${reply.status.toString(16).padStart(2, '0')}${reply.body}`);
    // Whoever pings first learns of a restart (the reconciler pings too): attach to the new lldpad now, not at the
    // watchdog's next tick. Until then its events, and the news that every VSI is gone, would not reach us, and a
    // sweep started on that ping would meet an lldpad whose VDP is still starting without knowing it restarted.
    if (this.attachedPid !== undefined && pid !== this.attachedPid && !this.attaching) {
      this.attachedPid = undefined;
      void this.ensureAttached().catch(() => undefined);
    }
    return pid;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.watch) clearInterval(this.watch);
    this.failAll(this.unreachable('client closed'));
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => child.kill('SIGKILL'), 1000);
      child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      child.stdin.end(); // EOF: the helper's stdin loop ends and it exits
    });
  }

  private ensureAttached(): Promise<number> {
    if (this.attachedPid !== undefined) return Promise.resolve(this.attachedPid);
    this.attaching ??= (async () => {
      try {
        const pid = await this.ping();
        const reply = await this.send(encodeAttach(this.attachIds), this.replyTimeoutMs);
        if (reply.status !== 0) throw this.unreachable(`attach for events refused (R${reply.status.toString(16).padStart(2, '0')})`);
        this.attachedPid = pid;
        const old = this.lastPid;
        this.lastPid = pid;
        this.emitStatus(old !== undefined && old !== pid ? { kind: 'restarted', oldPid: old, pid } : { kind: 'attached', pid });
        return pid;
      } finally {
        this.attaching = undefined;
      }
    })();
    return this.attaching;
  }

  /** Watchdog: a restarted lldpad has forgotten our attach (and every VSI); a silent one is reported once. */
  private async checkLldpad(): Promise<void> {
    if (this.closed || this.attachIds.length === 0 || this.attaching) return;
    if (this.attachedPid === undefined && this.lastPid === undefined) return; // never used yet: stay idle
    try {
      const pid = await this.ping();
      if (pid !== this.attachedPid) {
        this.attachedPid = undefined;
        await this.ensureAttached();
      }
    } catch (e) {
      this.lostLldpad((e as Error).message);
    }
  }

  private lostLldpad(message: string): void {
    if (this.attachedPid === undefined) return;
    this.attachedPid = undefined;
    this.emitStatus({ kind: 'unreachable', message });
  }

  private unreachable(message: string): QbgError {
    return qbgError('QBG_ERR_LLDPAD_UNREACHABLE', this.netns ? ` in network namespace ${this.netns}` : '', message);
  }

  private emitStatus(s: ClifStatus): void {
    for (const l of this.statusListeners) {
      try {
        l(s);
      } catch {
        /* a listener's bug must not break the socket */
      }
    }
  }

  private async send(msg: string, timeoutMs: number): Promise<ClifReply> {
    if (this.closed) throw this.unreachable('client closed');
    await this.start();
    const child = this.child;
    if (!child) throw this.unreachable(`helper not running${this.stderrTail ? `: ${this.stderrTail}` : ''}`);
    return new Promise<ClifReply>((resolve, reject) => {
      const p: Pending = { seq: ++this.seq, expect: expectFor(msg), resolve, reject, dead: false };
      p.timer = setTimeout(() => {
        // Keep the entry as a tombstone: if the reply comes late it must not be taken for the next command's.
        p.dead = true;
        reject(this.unreachable(`no reply to "${msg.slice(0, 24)}…" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.fifo.push(p);
      child.stdin.write(`${p.seq} ${Buffer.from(msg, 'latin1').toString('hex')}\n`);
    });
  }

  private start(): Promise<void> {
    if (this.child && this.ready) return this.ready;
    const argv = [...(this.netns ? ['ip', 'netns', 'exec', this.netns] : []), this.python, '-u', this.helperPath];
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.stderrTail = '';
    this.ready = new Promise<void>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout });
      lines.on('line', (line) => {
        if (line.startsWith('d')) this.onDatagram(Buffer.from(line.slice(1), 'hex').toString('latin1'));
        else if (line.startsWith('e')) this.onSendError(line);
        else if (line.startsWith('ready')) resolve();
      });
      child.stderr.on('data', (b: Buffer) => {
        this.stderrTail = (this.stderrTail + b.toString()).slice(-500).trim();
      });
      child.stdin.on('error', () => {
        /* EPIPE when the helper died: handled by 'exit' */
      });
      const died = (why: string): void => {
        if (this.child !== child) return;
        this.child = undefined;
        this.ready = undefined;
        const msg = `helper ${why}${this.stderrTail ? `: ${this.stderrTail}` : ''}`;
        reject(this.unreachable(msg));
        this.failAll(this.unreachable(msg));
        this.lostLldpad(msg);
      };
      child.on('error', (e) => died(`could not start (${argv.join(' ')}): ${e.message}`));
      child.on('exit', (code, signal) => died(`exited (${signal ?? `code ${code}`})`));
    });
    return this.ready;
  }

  private onDatagram(raw: string): void {
    const d = classifyDatagram(raw);
    if (d.type === 'event') {
      for (const l of this.eventListeners) {
        try {
          l({ moduleId: d.moduleId, level: d.level, payload: d.payload });
        } catch {
          /* a listener's bug must not break the socket */
        }
      }
      return;
    }
    if (d.type !== 'reply') return;
    // Replies come in send order. Skip timed-out commands whose reply this visibly is not.
    while (this.fifo.length > 0 && this.fifo[0].dead && d.reply.body !== '' && !d.reply.body.startsWith(this.fifo[0].expect)) {
      this.fifo.shift();
    }
    const p = this.fifo.shift();
    if (!p || p.dead) return;
    clearTimeout(p.timer);
    p.resolve(d.reply);
  }

  /** "e<seq> <errno> <text>": lldpad's socket is gone (ECONNREFUSED / ENOENT): no sent command will be answered. */
  private onSendError(line: string): void {
    const m = /^e(\d+) (\d+) (.*)$/.exec(line);
    const seq = m ? Number(m[1]) : NaN;
    const err = this.unreachable(`sending to lldpad's socket failed: ${m ? m[3] : line}`);
    const i = this.fifo.findIndex((p) => p.seq === seq);
    if (i >= 0) {
      const [p] = this.fifo.splice(i, 1);
      clearTimeout(p.timer);
      if (!p.dead) p.reject(err);
    }
    // Everything sent before went to a socket that no longer exists: its replies will never come.
    this.failAll(err);
    this.lostLldpad(err.message);
  }

  private failAll(err: QbgError): void {
    const all = this.fifo;
    this.fifo = [];
    for (const p of all) {
      clearTimeout(p.timer);
      if (!p.dead) p.reject(err);
    }
  }
}
