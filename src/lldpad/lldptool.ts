// lldptool adapter: runs lldptool with an argv array (never a shell), optionally inside a network namespace
// (lldptool talks to the lldpad of its own namespace over an abstract unix socket), and turns its failures into
// catalogue errors. Only the EVB-related commands qbg needs; their parsing lives in evb-tlv-text.ts.
import { execFile } from 'node:child_process';
import { parseNetnsName, parseUplinkName, type LldpAdminStatus } from '../domain/evb-config.js';
import { qbgError } from '../domain/errors.js';
import { parseEvbTlvText, parseKeyValues, type EvbTlv } from './evb-tlv-text.js';

export interface LldptoolOptions {
  /** run as `ip netns exec NETNS lldptool …` */
  netns?: string;
  /** lldptool binary (default: lldptool from PATH) */
  bin?: string;
  timeoutMs?: number;
}

/** Raw result of one lldptool run; exit code 0 is not always success (a set of a bad value prints and exits 1). */
interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

// Keys of the ratified EVB TLV module as lldptool names them (openlldp lldp_evb22_cmds.c arg_handlers).
export type EvbKey = 'enabletx' | 'evbmode' | 'evbgpid' | 'evbrrreq' | 'evbrrcap' | 'ecpretries' | 'ecprte' | 'vdprka' | 'vdprwd';

export class Lldptool {
  readonly netns?: string;
  private readonly bin: string;
  private readonly timeoutMs: number;

  constructor(opts: LldptoolOptions = {}) {
    if (opts.netns !== undefined) this.netns = parseNetnsName(opts.netns);
    this.bin = opts.bin ?? 'lldptool';
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  private where(): string {
    return this.netns ? ` in netns ${this.netns}` : '';
  }

  private exec(args: string[]): Promise<RunResult> {
    const file = this.netns ? 'ip' : this.bin;
    const argv = this.netns ? ['netns', 'exec', this.netns, this.bin, ...args] : args;
    return new Promise((resolve) => {
      execFile(file, argv, { timeout: this.timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
        resolve({ stdout: String(stdout), stderr: String(stderr) || (err && code === -1 ? err.message : ''), code });
      });
    });
  }

  /**
   * Run lldptool; exit status non-zero becomes QBG_ERR_LLDPAD_UNREACHABLE (no lldpad answering) or
   * QBG_ERR_LLDPAD_COMMAND (lldpad refused: "Invalid parameters", "Device not found or inactive").
   */
  async run(args: string[]): Promise<string> {
    const r = await this.exec(args);
    if (r.code === 0) return r.stdout;
    const text = `${r.stderr} ${r.stdout}`.replace(/\s+/g, ' ').trim();
    // lldptool exits 255 and says "Failed to connect to lldpad" when no lldpad listens in this namespace.
    if (/Failed to connect|Connection refused|No such file|ENOENT|Cannot open network namespace/i.test(text) || r.code === 255)
      throw qbgError('QBG_ERR_LLDPAD_UNREACHABLE', this.where(), text || `lldptool exit ${r.code}`);
    throw qbgError('QBG_ERR_LLDPAD_COMMAND', `lldptool ${args.join(' ')}`, text || `exit ${r.code}`);
  }

  /** lldpad's pid (`lldptool -p`): a changed pid means lldpad restarted and lost what was not in its config file. */
  async ping(): Promise<number> {
    const out = (await this.run(['-p'])).trim();
    const pid = Number(out);
    if (!Number.isInteger(pid) || pid <= 0) throw qbgError('QBG_ERR_LLDPAD_UNREACHABLE', this.where(), `unexpected ping answer ${JSON.stringify(out)}`);
    return pid;
  }

  /** `lldptool -l -i IF -g ncb adminStatus` → adminStatus=rxtx */
  async getAdminStatus(ifname: string): Promise<LldpAdminStatus> {
    const out = await this.run(['-l', '-i', parseUplinkName(ifname), '-g', 'ncb', 'adminStatus']);
    const v = parseKeyValues(out).adminstatus;
    if (v !== 'rx' && v !== 'tx' && v !== 'rxtx' && v !== 'disabled')
      throw qbgError('QBG_ERR_LLDPAD_COMMAND', `lldptool -l adminStatus on ${ifname}`, `unexpected answer ${JSON.stringify(out.trim())}`);
    return v;
  }

  /** `lldptool -L -i IF -g ncb adminStatus=VALUE` */
  async setAdminStatus(ifname: string, status: LldpAdminStatus): Promise<void> {
    await this.run(['-L', '-i', parseUplinkName(ifname), '-g', 'ncb', `adminStatus=${status}`]);
  }

  /** `lldptool -t -i IF -g ncb -V evb -c`: every EVB key=value of the local configuration (lower-case keys). */
  async getEvbConfig(ifname: string): Promise<Partial<Record<EvbKey, string>>> {
    return parseKeyValues(await this.run(['-t', '-i', parseUplinkName(ifname), '-g', 'ncb', '-V', 'evb', '-c']));
  }

  /** One `lldptool -T … -V evb -c k=v -c k=v` for all pairs (lldpad applies them in order). */
  async setEvbConfig(ifname: string, pairs: ReadonlyArray<readonly [EvbKey, string]>): Promise<void> {
    if (pairs.length === 0) return;
    const args = ['-T', '-i', parseUplinkName(ifname), '-g', 'ncb', '-V', 'evb'];
    for (const [k, v] of pairs) {
      if (!/^[a-z0-9]+$/i.test(v)) throw qbgError('QBG_ERR_BAD_REQUEST', `refusing EVB value ${JSON.stringify(v)} for ${k}`);
      args.push('-c', `${k}=${v}`);
    }
    await this.run(args);
  }

  /**
   * The EVB TLV: ours as lldpad now sends it (neighbor=false; it carries the negotiated values and the bridge
   * status received), or the peer's as received (neighbor=true). undefined: none (tx off / nothing received).
   */
  async getEvbTlv(ifname: string, neighbor: boolean): Promise<EvbTlv | undefined> {
    const args = [...(neighbor ? ['-n'] : []), '-t', '-i', parseUplinkName(ifname), '-g', 'ncb', '-V', 'evb'];
    return parseEvbTlvText(await this.run(args));
  }
}
