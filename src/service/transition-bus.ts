// One in-process bus for everything that happens to VM NICs and lldpad, fed by the NIC service and the
// reconciler, read by the SSE stream (/events), webhooks, metrics and logs. Events carry the persisted history
// row id as `seq`, so a client that reconnects with Last-Event-ID can be replayed from the store.
import { EventEmitter } from 'node:events';

export interface NicTransition {
  kind: 'nic-transition';
  /** History row id: monotonically increasing, the SSE event id. */
  seq: number;
  nicId: string;
  vmUuid: string;
  mac: string;
  uplink: string;
  from: string;
  to: string;
  /** Why: 'api-associate', 'lldpad-answer', 'reconcile', 'bridge-deassoc', 'keepalive-lost', 'migration', … */
  cause: string;
  reasonCode?: number;
  reason?: string;
  at: string;
}

export interface ServiceNotice {
  kind:
    | 'lldpad-restarted'
    | 'lldpad-unreachable'
    | 'lldpad-reachable'
    | 'reconcile-started'
    | 'reconcile-finished'
    | 'uplink-drift'
    // fleet checks (src/fleet/checks.ts), raised by the fleet's checker host
    | 'fleet-double-held'
    | 'fleet-migration-source-holding'
    | 'fleet-host-stale';
  detail: Record<string, unknown>;
  at: string;
}

export type QbgEvent = NicTransition | ServiceNotice;

export class TransitionBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    // many SSE clients may listen at once
    this.emitter.setMaxListeners(0);
  }

  publish(e: QbgEvent): void {
    this.emitter.emit('event', e);
  }

  subscribe(listener: (e: QbgEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }
}
