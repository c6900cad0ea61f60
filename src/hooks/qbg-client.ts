// The hooks' view of the NIC API: a few calls with short time limits. Everything that is an OUTAGE (qbg not
// reachable, no answer in time, lldpad unreachable behind qbg) becomes QbgDown, which the hook's onQbgDown policy
// may let through; everything qbg actually answered (bad XML, unknown profile, VLAN not allowed, bridge refused)
// is a QbgError with the catalogue code and always fails.
import { QbgError, type ErrorCode } from '../domain/errors.js';
import type { HookConfig } from './hook-config.js';
import type { NicAssociationInput } from '../domain/nic.js';
import type { Ownership } from './plan.js';

/** qbg or lldpad cannot be asked right now. */
export class QbgDown extends Error {}

/** The parts of a NIC (GET /nics/:id, associate answers) a hook reads. */
export interface HookNicView {
  id: string;
  state: string;
  uplink: string;
  typeName: string;
  typeIdVersion: number;
  reason?: string;
  reasonCode?: number;
}

export interface HookTypeView {
  name: string;
  typeId: number;
  typeIdVersion: number;
  managerId?: number;
}

/** One NIC as the NIC API takes it (src/api/nics-routes.ts AssociateBody without vmUuid/mode). */
export type NicInput = Omit<NicAssociationInput, 'vmUuid' | 'mode'>;

/** Codes of requests that reached lldpad (or tried to): only these can be caused by lldpad being down. */
const LLDPAD_OUTCOME_CODES = new Set<string>(['QBG_ERR_LLDPAD_COMMAND', 'QBG_ERR_VDP_REJECTED', 'QBG_ERR_VDP_TIMEOUT']);

/** The NIC API paths in one place (src/api/nics-routes.ts). */
export const NIC_API = {
  associate: '/nics/associate',
  nic: (id: string) => `/nics/${encodeURIComponent(id)}`,
  disassociate: (id: string) => `/nics/${encodeURIComponent(id)}/disassociate`,
  observe: '/nics/observe',
  migration: (vmUuid: string, step: 'prepare' | 'start' | 'stop') => `/migrations/${encodeURIComponent(vmUuid)}/${step}`,
  types: '/types',
  health: '/healthz',
  ready: '/readyz',
};

export class HookClient {
  constructor(
    private readonly cfg: HookConfig,
    private readonly doFetch: typeof fetch = fetch,
  ) {}

  private async call(method: string, path: string, body: unknown, timeoutMs: number): Promise<{ status: number; json: unknown }> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.cfg.token) headers.authorization = `Bearer ${this.cfg.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    let text: string;
    try {
      res = await this.doFetch(new URL(path, this.cfg.url), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await res.text();
    } catch (e) {
      const err = e as Error;
      const why = err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : String((err.cause as Error | undefined)?.message ?? err.message);
      throw new QbgDown(`qbg at ${this.cfg.url} is not reachable (${method} ${path}: ${why})`);
    }
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (res.ok) return { status: res.status, json };
    const e = (json ?? {}) as { code?: string; error?: string; field?: string };
    const code = e.code?.startsWith('QBG_ERR_') ? (e.code as ErrorCode) : undefined;
    // lldpad unreachable behind qbg, or qbg itself failing: an outage, not a refusal
    if (code === 'QBG_ERR_LLDPAD_UNREACHABLE' || (!code && res.status >= 500)) {
      throw new QbgDown(`qbg at ${this.cfg.url} cannot associate now: ${e.error ?? `HTTP ${res.status}`}`);
    }
    throw new QbgError(code ?? 'QBG_ERR_INTERNAL', e.error ?? `HTTP ${res.status} from ${method} ${path}`, e.field ? { field: e.field } : {});
  }

  /**
   * A quick liveness check with the short time limit, so a dead qbg is noticed in ~2 s, not 20. Answers who owns
   * this host's VSIs (qbg's config `ownership`; a qbg older than the setting owns them itself).
   */
  async ping(): Promise<Ownership> {
    const r = await this.call('GET', NIC_API.health, undefined, this.cfg.connectTimeoutMs);
    return (r.json as { ownership?: string } | undefined)?.ownership === 'libvirt' ? 'libvirt' : 'qbg';
  }

  /** A libvirt-owned NIC: qbg records what lldpad holds after libvirt's own step; no request goes to lldpad. */
  async observe(vmUuid: string, nic: NicInput, expect: 'held' | 'gone', opts: { attachedWhileRunning?: boolean } = {}): Promise<HookNicView | undefined> {
    const body = { vmUuid, ...nic, expect, ...(opts.attachedWhileRunning ? { attachedWhileRunning: true } : {}) };
    const r = await this.call('POST', NIC_API.observe, body, this.cfg.requestTimeoutMs);
    return (r.json as { nic?: HookNicView } | undefined)?.nic;
  }

  async getNic(id: string): Promise<HookNicView | undefined> {
    try {
      const r = await this.call('GET', NIC_API.nic(id), undefined, this.cfg.connectTimeoutMs);
      return nicOf(r.json);
    } catch (e) {
      if (e instanceof QbgError && e.statusCode === 404) return undefined;
      throw e;
    }
  }

  /** 2xx only when lldpad accepted; a refusal (409 bridge, 502 lldpad, 504 no answer) throws a QbgError. */
  async associate(vmUuid: string, nic: NicInput): Promise<HookNicView> {
    const r = await this.outageAware(() => this.call('POST', NIC_API.associate, { vmUuid, ...nic, mode: 'assoc' }, this.cfg.requestTimeoutMs));
    return nicOf(r.json);
  }

  /**
   * qbg reports a dead lldpad as a failed request (QBG_ERR_LLDPAD_COMMAND with the transport's error, or a failed
   * migration step). That is an outage, not a refusal, when qbg's own readiness check says lldpad does not answer
   * its ping. Input errors (4xx other than these) stay refusals whatever lldpad does.
   */
  private async outageAware<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof QbgError && LLDPAD_OUTCOME_CODES.has(e.code) && (await this.lldpadDown())) {
        throw new QbgDown(`lldpad does not answer qbg at ${this.cfg.url} (${e.message})`);
      }
      throw e;
    }
  }

  private async lldpadDown(): Promise<boolean> {
    try {
      const res = await this.doFetch(new URL(NIC_API.ready, this.cfg.url), { signal: AbortSignal.timeout(this.cfg.connectTimeoutMs) });
      const body = (await res.json()) as { checks?: Array<{ name: string; ok: boolean }> };
      return body.checks?.find((c) => c.name === 'lldpad')?.ok === false;
    } catch {
      return false; // cannot tell: keep the refusal as it is
    }
  }

  /** undefined: qbg does not know the NIC (never associated here): nothing to undo. */
  async disassociate(id: string): Promise<HookNicView | undefined> {
    try {
      const r = await this.call('POST', NIC_API.disassociate(id), undefined, this.cfg.requestTimeoutMs);
      return nicOf(r.json);
    } catch (e) {
      if (e instanceof QbgError && e.statusCode === 404) return undefined;
      throw e;
    }
  }

  /** Destination: pre-associate all NICs of an arriving VM (qbg rolls back the others if one is refused). */
  async migrationPrepare(vmUuid: string, nics: NicInput[]): Promise<HookNicView[]> {
    const r = await this.outageAware(() => this.call('POST', NIC_API.migration(vmUuid, 'prepare'), { nics }, this.cfg.requestTimeoutMs));
    return (r.json as { nics: HookNicView[] }).nics;
  }

  /** Destination: the VM runs here now, associate the prepared NICs; source: drop the NICs of the VM that left. */
  async migrationStep(vmUuid: string, step: 'start' | 'stop'): Promise<HookNicView[]> {
    const r = await this.call('POST', NIC_API.migration(vmUuid, step), undefined, this.cfg.requestTimeoutMs);
    return (r.json as { nics: HookNicView[] }).nics;
  }

  async types(): Promise<HookTypeView[]> {
    const r = await this.call('GET', NIC_API.types, undefined, this.cfg.connectTimeoutMs);
    return ((r.json as { types?: HookTypeView[] } | undefined)?.types ?? []) as HookTypeView[];
  }
}

/** The NIC from an answer that is either the NIC itself or {nic, …}. */
function nicOf(json: unknown): HookNicView {
  const o = json as { nic?: HookNicView } & Partial<HookNicView>;
  const nic = o?.nic ?? (o as HookNicView);
  if (!nic || typeof nic.state !== 'string') throw new QbgError('QBG_ERR_INTERNAL', `unexpected answer from qbg: ${JSON.stringify(json)?.slice(0, 200)}`);
  return nic;
}
