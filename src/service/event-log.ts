// Where GET /events replays from when a client reconnects with Last-Event-ID. The NIC repo implements
// TransitionHistory over its persisted history table (seq = row id); RingBufferHistory keeps the last N
// transitions in memory for setups without a store and for tests.
import type { NicTransition, TransitionBus } from './transition-bus.js';

export interface TransitionHistory {
  /** Transitions with seq > afterSeq, oldest first, at most `limit` of them. */
  historySince(afterSeq: number, limit: number): NicTransition[] | Promise<NicTransition[]>;
}

export class RingBufferHistory implements TransitionHistory {
  private readonly buf: NicTransition[] = [];

  constructor(private readonly capacity = 10_000) {}

  record(e: NicTransition): void {
    this.buf.push(e);
    if (this.buf.length > this.capacity) this.buf.splice(0, this.buf.length - this.capacity);
  }

  attach(bus: TransitionBus): () => void {
    return bus.subscribe((e) => {
      if (e.kind === 'nic-transition') this.record(e);
    });
  }

  historySince(afterSeq: number, limit: number): NicTransition[] {
    // seq increases along the buffer: binary search for the first newer entry
    let lo = 0;
    let hi = this.buf.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.buf[mid].seq <= afterSeq) lo = mid + 1;
      else hi = mid;
    }
    return this.buf.slice(lo, lo + limit);
  }
}

/** What repoHistory needs of the NIC repo (src/store/nic-repo.ts). */
export interface NicHistorySource {
  historySince(afterSeq: number, limit: number): Array<{
    seq: number;
    nicId: string;
    at: string;
    from: string;
    to: string;
    cause: string;
    reasonCode?: number;
    reason?: string;
  }>;
  get(id: string): { vmUuid: string; mac: string; uplink: string } | undefined;
}

/**
 * The persisted history as a TransitionHistory: the same events the NIC service published live. History rows
 * outlive a deleted NIC; its VM UUID and MAC then come from the NIC id ("<vm uuid>_<mac>") and the uplink is ''.
 */
export function repoHistory(repo: NicHistorySource): TransitionHistory {
  return {
    historySince(afterSeq, limit) {
      const nics = new Map<string, { vmUuid: string; mac: string; uplink: string }>();
      return repo.historySince(afterSeq, limit).map((h) => {
        let nic = nics.get(h.nicId);
        if (!nic) {
          const [vmUuid = '', mac = ''] = h.nicId.split('_');
          nic = repo.get(h.nicId) ?? { vmUuid, mac, uplink: '' };
          nics.set(h.nicId, nic);
        }
        return {
          kind: 'nic-transition',
          seq: h.seq,
          nicId: h.nicId,
          vmUuid: nic.vmUuid,
          mac: nic.mac,
          uplink: nic.uplink,
          from: h.from,
          to: h.to,
          cause: h.cause,
          ...(h.reasonCode !== undefined ? { reasonCode: h.reasonCode } : {}),
          ...(h.reason !== undefined ? { reason: h.reason } : {}),
          at: h.at,
        };
      });
    },
  };
}
