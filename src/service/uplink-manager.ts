// Uplinks as the service sees them: the desired EVB config (kept in an UplinkConfigStore) next to what lldpad
// actually runs, and the operations the API/CLI offer: status, put, apply, delete. Reads and applies of one uplink
// are serialised so an API apply and a drift repair never interleave their lldptool calls.
import { EventEmitter } from 'node:events';
import {
  describeChanges,
  diffEvbSettings,
  evbSettingsOf,
  parseUplinkConfig,
  parseUplinkName,
  type EvbSettingChange,
  type EvbSettings,
  type UplinkConfigStore,
  type UplinkEvbConfig,
} from '../domain/evb-config.js';
import { isQbgError, qbgError } from '../domain/errors.js';
import { Lldptool } from '../lldpad/lldptool.js';
import { applyUplink, readUplink, type BridgeAdvertisement, type EvbNegotiated } from '../lldpad/uplink-config.js';

export interface UplinkLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface UplinkStatus {
  uplink: string;
  netns?: string;
  desired: UplinkEvbConfig;
  /** null: lldpad could not be read (see error) */
  actual: EvbSettings | null;
  /** desired vs actual, in apply order; empty when in sync */
  diff: EvbSettingChange[];
  inSync: boolean;
  lldpadPid: number | null;
  /** lldpad has received and processed the bridge's EVB TLV */
  peerEvbSeen: boolean;
  bridge?: BridgeAdvertisement;
  negotiated?: EvbNegotiated;
  error?: { code: string; message: string };
  checkedAt: string;
}

export interface ApplyReport {
  uplink: string;
  changed: EvbSettingChange[];
  remaining: EvbSettingChange[];
  restartNeeded: boolean;
  status: UplinkStatus;
}

/** Desired configs in memory (until a persistent store is plugged in). */
export class MemoryUplinkConfigStore implements UplinkConfigStore {
  private readonly rows = new Map<string, UplinkEvbConfig>();
  list(): UplinkEvbConfig[] {
    return [...this.rows.values()].map((c) => ({ ...c })).sort((a, b) => a.uplink.localeCompare(b.uplink));
  }
  get(uplink: string): UplinkEvbConfig | undefined {
    const c = this.rows.get(uplink);
    return c ? { ...c } : undefined;
  }
  put(cfg: UplinkEvbConfig): void {
    this.rows.set(cfg.uplink, { ...cfg });
  }
  delete(uplink: string): boolean {
    return this.rows.delete(uplink);
  }
}

export interface UplinkManagerOptions {
  store: UplinkConfigStore;
  /** how to reach the lldpad of a namespace (default: lldptool from PATH, via ip netns exec when netns is set) */
  lldptool?: (netns?: string) => Lldptool;
  log?: UplinkLogger;
}

const silent: UplinkLogger = { info() {}, warn() {} };

/** Events: 'applied' ({ uplink, netns, changed: EvbSettingChange[], restartNeeded }). */
export class UplinkManager extends EventEmitter {
  readonly store: UplinkConfigStore;
  private readonly tool: (netns?: string) => Lldptool;
  private readonly log: UplinkLogger;
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(opts: UplinkManagerOptions) {
    super();
    this.store = opts.store;
    this.tool = opts.lldptool ?? ((netns) => new Lldptool({ netns }));
    this.log = opts.log ?? silent;
  }

  lldptoolFor(cfg: Pick<UplinkEvbConfig, 'netns'>): Lldptool {
    return this.tool(cfg.netns);
  }

  private serial<T>(uplink: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(uplink) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(uplink, tail);
    void tail.then(() => {
      if (this.locks.get(uplink) === tail) this.locks.delete(uplink);
    });
    return run;
  }

  async desired(name: string): Promise<UplinkEvbConfig> {
    const cfg = await this.store.get(parseUplinkName(name, 'name'));
    if (!cfg) throw qbgError('QBG_ERR_UPLINK_NOT_FOUND', name);
    return cfg;
  }

  async listDesired(): Promise<UplinkEvbConfig[]> {
    return this.store.list();
  }

  private async readStatus(cfg: UplinkEvbConfig): Promise<UplinkStatus> {
    const base = { uplink: cfg.uplink, ...(cfg.netns ? { netns: cfg.netns } : {}), desired: cfg };
    try {
      const rb = await readUplink(this.lldptoolFor(cfg), cfg.uplink, cfg.role);
      const diff = diffEvbSettings(evbSettingsOf(cfg), rb.actual);
      return {
        ...base,
        actual: rb.actual,
        diff,
        inSync: diff.length === 0,
        lldpadPid: rb.lldpadPid,
        peerEvbSeen: rb.peerEvbSeen,
        ...(rb.bridge ? { bridge: rb.bridge } : {}),
        ...(rb.negotiated ? { negotiated: rb.negotiated } : {}),
        checkedAt: new Date().toISOString(),
      };
    } catch (e) {
      if (!isQbgError(e)) throw e;
      return {
        ...base,
        actual: null,
        diff: diffEvbSettings(evbSettingsOf(cfg), {}),
        inSync: false,
        lldpadPid: null,
        peerEvbSeen: false,
        error: { code: e.code, message: e.message },
        checkedAt: new Date().toISOString(),
      };
    }
  }

  /** Desired vs actual of one uplink; lldpad being unreachable is reported in the status, not thrown. */
  async status(name: string): Promise<UplinkStatus> {
    const cfg = await this.desired(name);
    return this.serial(cfg.uplink, () => this.readStatus(cfg));
  }

  async list(): Promise<UplinkStatus[]> {
    const all = await this.store.list();
    return Promise.all(all.map((cfg) => this.serial(cfg.uplink, () => this.readStatus(cfg))));
  }

  /** Validate and store a desired config (nothing is stored when validation fails). Does not touch lldpad. */
  async put(name: string, input: unknown): Promise<UplinkEvbConfig> {
    const cfg = parseUplinkConfig(input, name);
    await this.store.put(cfg);
    this.log.info({ uplink: cfg.uplink, desired: cfg }, 'uplink desired config stored');
    return cfg;
  }

  async delete(name: string): Promise<void> {
    const n = parseUplinkName(name, 'name');
    if (!(await this.store.delete(n))) throw qbgError('QBG_ERR_UPLINK_NOT_FOUND', n);
  }

  /** Bring lldpad in line with the desired config; only differing settings are sent. Throws if lldpad is unreachable. */
  async apply(name: string): Promise<ApplyReport> {
    const cfg = await this.desired(name);
    return this.serial(cfg.uplink, async () => {
      const tool = this.lldptoolFor(cfg);
      const out = await applyUplink(tool, cfg);
      if (out.changed.length > 0) {
        this.log.info(
          { uplink: cfg.uplink, netns: cfg.netns, changed: out.changed, restartNeeded: out.restartNeeded },
          `uplink ${cfg.uplink}: applied ${describeChanges(out.changed)}`,
        );
        this.emit('applied', { uplink: cfg.uplink, netns: cfg.netns, changed: out.changed, restartNeeded: out.restartNeeded });
      }
      if (out.remaining.length > 0)
        this.log.warn({ uplink: cfg.uplink, remaining: out.remaining }, `uplink ${cfg.uplink}: lldpad did not keep ${describeChanges(out.remaining)}`);
      if (out.restartNeeded)
        this.log.warn({ uplink: cfg.uplink }, `uplink ${cfg.uplink}: EVB role changed; lldpad must be restarted for VDP to use it`);
      const status = await this.readStatus(cfg);
      return { uplink: cfg.uplink, changed: out.changed, remaining: out.remaining, restartNeeded: out.restartNeeded, status };
    });
  }
}
