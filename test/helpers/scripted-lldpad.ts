// A stand-in for lldpad in unit tests of the service layer: holds VSIs like lldpad would; `next` scripts the outcome
// of the following requests. Lab tests use the real lldpad; this only keeps unit tests fast and deterministic.
import type { VsiAssociator, VsiEvent, VsiOutcome, VsiRequest, VsiStatus } from '../../src/domain/vsi-request.js';

/** Holds VSIs like lldpad would; `next` scripts the outcome of the following requests. */
export class ScriptedLldpad implements VsiAssociator {
  held = new Map<string, VsiStatus>();
  requests: VsiRequest[] = [];
  /** VSIs listed but never granted by the bridge (hints 255), as a timed-out libvirt request leaves them. */
  ungranted = new Map<string, { mode: VsiRequest['mode']; hints: number }>();
  next: Array<(r: VsiRequest) => VsiOutcome> = [];
  async request(r: VsiRequest): Promise<VsiOutcome> {
    this.requests.push(r);
    const o: VsiOutcome = this.next.shift()?.(r) ?? { kind: 'accepted', mode: r.mode, latencyMs: 1 };
    if (o.kind === 'accepted') {
      if (r.mode === 'deassoc') (this.held.delete(r.instanceUuid), this.ungranted.delete(r.instanceUuid));
      else this.held.set(r.instanceUuid, { instanceUuid: r.instanceUuid, mode: r.mode, typeId: r.typeId, typeIdVersion: r.typeIdVersion, managerId2: r.managerId2, filters: r.filters });
    }
    return o;
  }
  async query(_uplink: string, uuid: string) {
    return this.held.get(uuid);
  }
  async unanswered(_uplink: string, uuid: string) {
    return this.ungranted.get(uuid);
  }
  private readonly listeners = new Set<(e: VsiEvent) => void>();
  onEvent(l: (e: VsiEvent) => void) {
    this.listeners.add(l);
    return () => void this.listeners.delete(l);
  }
  /** lldpad's own news: the VSI is gone (keep-alives unanswered, or the bridge ended it), told to every listener. */
  lose(instanceUuid: string, kind: VsiEvent['kind'] = 'lost'): void {
    this.held.delete(instanceUuid);
    for (const l of this.listeners) l({ kind, instanceUuid, at: new Date().toISOString() });
  }
  async ping() {
    return { ok: true, pid: 1 };
  }
  async close() {}
}

