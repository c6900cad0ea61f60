// Prometheus metrics for qbg on a Registry of its own (never prom-client's global one: tests and embedders build
// several services in one process). Fed three ways: the TransitionBus (NIC transitions, lldpad/reconcile notices),
// an instrumented VsiAssociator (latency and failures of every VDP request, whoever made it), and explicit calls
// (HTTP durations from metrics-routes, webhook deliveries).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import { RequestHistogram } from './request-histogram.js';
import type { QbgEvent, TransitionBus } from './transition-bus.js';
import type { VdpRequestMode, VsiAssociator, VsiOutcome } from '../domain/vsi-request.js';

/** NIC counts per association state; the NIC repo answers it with one GROUP BY at scrape time. */
export type NicCountsByState = () => Record<string, number> | Promise<Record<string, number>>;

export interface MetricsOptions {
  nicCountsByState?: NicCountsByState;
  /** Node process metrics (CPU, memory, event loop lag) with the qbg_ prefix. Default true. */
  processMetrics?: boolean;
}

// VDP answers come in milliseconds on a healthy link (qbg-notes: 5–15 ms) and lldpad gives up after ~16 s.
const ASSOCIATION_BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20];
const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class QbgMetrics {
  readonly registry = new Registry();
  private readonly nics: Gauge<'state'>;
  private readonly associationSeconds: Histogram<'mode' | 'outcome'>;
  private readonly vdpFailures: Counter<'reason'>;
  private readonly transitions: Counter<'to' | 'cause'>;
  private readonly lldpadRestarts: Counter;
  private readonly lldpadUp: Gauge;
  private readonly reconcileRuns: Counter;
  private readonly reconcileRetries: Counter<'outcome' | 'reason'>;
  private readonly uplinkDrift: Counter;
  private readonly httpSeconds: RequestHistogram<'method' | 'route' | 'status_code'>;
  private readonly webhookDeliveries: Counter<'outcome'>;
  private readonly webhookDropped: Counter;
  private readonly sseClients: Gauge;
  /** States seen at the last scrape: a state that drops to zero NICs must read 0, not vanish. */
  private readonly knownStates = new Set<string>();
  /** Asked at scrape time so qbg_lldpad_up is right even before any lldpad notice (set by instrumentAssociator). */
  private lldpadProbe?: () => Promise<{ ok: boolean }>;

  constructor(opts: MetricsOptions = {}) {
    const registers = [this.registry];
    const counts = opts.nicCountsByState;
    const knownStates = this.knownStates;
    this.nics = new Gauge({
      name: 'qbg_nics',
      help: 'VM NICs known to qbg, by association state',
      labelNames: ['state'],
      registers,
      async collect() {
        if (!counts) return;
        const now = await counts();
        for (const s of Object.keys(now)) knownStates.add(s);
        for (const s of knownStates) this.set({ state: s }, now[s] ?? 0);
      },
    });
    this.associationSeconds = new Histogram({
      name: 'qbg_vdp_request_duration_seconds',
      help: 'Time from a VDP request to lldpad to its outcome, by request mode and outcome',
      labelNames: ['mode', 'outcome'],
      buckets: ASSOCIATION_BUCKETS,
      registers,
    });
    this.vdpFailures = new Counter({
      name: 'qbg_vdp_failures_total',
      help: 'VDP requests that did not succeed and VSIs lost afterwards, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.transitions = new Counter({
      name: 'qbg_nic_transitions_total',
      help: 'NIC association state transitions, by target state and cause',
      labelNames: ['to', 'cause'],
      registers,
    });
    this.lldpadRestarts = new Counter({ name: 'qbg_lldpad_restarts_total', help: 'lldpad restarts noticed (its pid changed)', registers });
    const self = this;
    this.lldpadUp = new Gauge({
      name: 'qbg_lldpad_up',
      help: '1 while lldpad answers a ping, else 0',
      registers,
      async collect() {
        if (!self.lldpadProbe) return; // fed by lldpad notices only
        let timer: NodeJS.Timeout | undefined;
        try {
          const r = await Promise.race([
            self.lldpadProbe(),
            new Promise<{ ok: boolean }>((resolve) => (timer = setTimeout(() => resolve({ ok: false }), 1000))),
          ]);
          this.set(r.ok ? 1 : 0);
        } catch {
          this.set(0);
        } finally {
          clearTimeout(timer);
        }
      },
    });
    this.reconcileRuns = new Counter({ name: 'qbg_reconcile_runs_total', help: 'Reconciler runs finished', registers });
    this.reconcileRetries = new Counter({
      name: 'qbg_reconcile_retries_total',
      help: 'Requests the reconciler sent again for a NIC lldpad did not hold as it should, by outcome (accepted, failed, gave-up) and VDP reason',
      labelNames: ['outcome', 'reason'],
      registers,
    });
    this.uplinkDrift = new Counter({ name: 'qbg_uplink_drift_total', help: 'Uplinks found with EVB configuration differing from the desired one', registers });
    this.httpSeconds = new RequestHistogram('qbg_http_request_duration_seconds', 'HTTP API request durations, by method, route pattern and status code', HTTP_BUCKETS);
    this.registry.registerMetric(this.httpSeconds as unknown as Metric);
    this.webhookDeliveries = new Counter({
      name: 'qbg_webhook_deliveries_total',
      help: 'Webhook delivery attempts, by outcome (delivered, retry, gave-up)',
      labelNames: ['outcome'],
      registers,
    });
    this.webhookDropped = new Counter({ name: 'qbg_webhook_dropped_total', help: 'Webhook events dropped because a receiver queue was full', registers });
    this.sseClients = new Gauge({ name: 'qbg_event_stream_clients', help: 'Clients connected to GET /events', registers });
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'qbg_' });
  }

  /** Record one VDP request's outcome (the instrumented associator calls this for every request). */
  observeVsiOutcome(mode: VdpRequestMode, outcome: VsiOutcome): void {
    switch (outcome.kind) {
      case 'accepted':
        this.associationSeconds.observe({ mode, outcome: 'accepted' }, outcome.latencyMs / 1000);
        break;
      case 'rejected':
        this.associationSeconds.observe({ mode, outcome: 'rejected' }, outcome.latencyMs / 1000);
        this.vdpFailures.inc({ reason: outcome.reason });
        break;
      case 'timeout':
        this.associationSeconds.observe({ mode, outcome: 'timeout' }, outcome.afterMs / 1000);
        this.vdpFailures.inc({ reason: 'timeout' });
        break;
      case 'transport-error':
        this.vdpFailures.inc({ reason: 'transport-error' });
        break;
    }
  }

  /** A VSI ended without being asked (bridge de-associate, keep-alive lost). */
  observeVsiLoss(kind: 'deassociated-by-bridge' | 'lost'): void {
    this.vdpFailures.inc({ reason: kind });
  }

  observeHttp(method: string, route: string, statusCode: number, seconds: number): void {
    // one series per (method, status, route pattern): bounded, routes and status codes are finite
    this.httpSeconds.observe(`${method} ${statusCode} ${route}`, () => ({ method, route, status_code: String(statusCode) }), seconds);
  }

  webhookAttempt(outcome: 'delivered' | 'retry' | 'gave-up'): void {
    this.webhookDeliveries.inc({ outcome });
  }

  /** One reconciler retry: outcome accepted / failed / gave-up, reason the decoded VDP reason name. */
  reconcileRetry(outcome: string, reason: string): void {
    this.reconcileRetries.inc({ outcome, reason });
  }

  webhookDrop(): void {
    this.webhookDropped.inc();
  }

  eventStreamClients(delta: 1 | -1): void {
    this.sseClients.inc(delta);
  }

  /** Feed from the bus: transitions, lldpad restarts/reachability, reconcile runs, drift. */
  observeEvent(e: QbgEvent): void {
    switch (e.kind) {
      case 'nic-transition':
        this.transitions.inc({ to: e.to, cause: e.cause });
        break;
      case 'lldpad-restarted':
        this.lldpadRestarts.inc();
        this.lldpadUp.set(1);
        break;
      case 'lldpad-unreachable':
        this.lldpadUp.set(0);
        break;
      case 'lldpad-reachable':
        this.lldpadUp.set(1);
        break;
      case 'reconcile-finished':
        this.reconcileRuns.inc();
        break;
      case 'uplink-drift':
        this.uplinkDrift.inc();
        break;
      case 'reconcile-started':
        break;
    }
  }

  /** Ping lldpad at every scrape for qbg_lldpad_up (a ping over lldpad's client socket costs ~0.1 ms). */
  setLldpadProbe(probe: () => Promise<{ ok: boolean }>): void {
    this.lldpadProbe = probe;
  }

  attach(bus: TransitionBus): () => void {
    return bus.subscribe((e) => this.observeEvent(e));
  }

  /** The text exposition format and its content type, for GET /metrics. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

export function createMetrics(opts: MetricsOptions = {}): QbgMetrics {
  return new QbgMetrics(opts);
}

/**
 * Wrap a VsiAssociator so every request's latency and outcome, and every VSI lost, is measured, whichever part
 * of qbg (NIC service, reconciler) made the request. Everything else passes through unchanged.
 */
export function instrumentAssociator(inner: VsiAssociator, metrics: QbgMetrics): VsiAssociator {
  inner.onEvent((e) => metrics.observeVsiLoss(e.kind));
  metrics.setLldpadProbe(() => inner.ping());
  return {
    async request(req, opts) {
      const outcome = await inner.request(req, opts);
      metrics.observeVsiOutcome(req.mode, outcome);
      return outcome;
    },
    query: (uplink, uuid) => inner.query(uplink, uuid),
    onEvent: (listener) => inner.onEvent(listener),
    ping: () => inner.ping(),
    close: () => inner.close(),
  };
}

/** NIC counts by state straight from the store: one GROUP BY per scrape (wire as MetricsOptions.nicCountsByState). */
export function nicCountsFromDb(db: { prepare(sql: string): { all(): unknown[] } }): NicCountsByState {
  const st = db.prepare('SELECT state, count(*) AS n FROM nics GROUP BY state');
  return () => Object.fromEntries((st.all() as Array<{ state: string; n: number }>).map((r) => [r.state, r.n]));
}
