// Webhooks: POST a JSON document to configured URLs when a NIC association fails, times out or is lost, and for
// service notices (lldpad restarted/unreachable, reconcile, drift). Delivery never holds up the bus: an event is
// copied into one bounded queue per receiver and a worker per receiver sends it, with a time limit per attempt and
// exponential backoff between attempts. A dead or hanging receiver only fills (and then overflows) its own queue.
import { createHmac, randomUUID } from 'node:crypto';
import { fieldError } from '../domain/errors.js';
import type { QbgMetrics } from './metrics.js';
import type { QbgEvent, TransitionBus } from './transition-bus.js';

export interface WebhookTarget {
  url: string;
  /** Event names to send (see eventName); omitted = DEFAULT_WEBHOOK_EVENTS; '*' = everything. */
  events?: string[];
  /** With a secret every request carries X-Qbg-Signature: sha256=<HMAC-SHA256 of the body, hex>. */
  secret?: string;
}

/** NIC states that mean "this association did not work"; a webhook is about those, not routine traffic. */
export const FAILURE_STATES = ['failed', 'timed-out', 'lost'] as const;

export const DEFAULT_WEBHOOK_EVENTS: readonly string[] = [
  ...FAILURE_STATES.map((s) => `nic.${s}`),
  'lldpad-restarted',
  'lldpad-unreachable',
  'lldpad-reachable',
  'reconcile-finished',
  'uplink-drift',
  'fleet-double-held',
  'fleet-migration-source-holding',
  'fleet-host-stale',
];

/** The name a receiver filters on: nic.<target state> for transitions, the notice kind otherwise. */
export function eventName(e: QbgEvent): string {
  return e.kind === 'nic-transition' ? `nic.${e.to}` : e.kind;
}

export interface WebhookPayload {
  /** Unique per event and receiver; stays the same across retries, so a receiver can drop duplicates. */
  deliveryId: string;
  event: string;
  at: string;
  data: QbgEvent;
}

export interface WebhookOptions {
  /** Events held per receiver before the oldest is dropped. Default 1000. */
  queueSize?: number;
  /** Time limit of one attempt (connect + answer). Default 5000 ms. */
  timeoutMs?: number;
  /** Attempts per event, the first included. Default 6. */
  maxAttempts?: number;
  /** Wait before the 2nd attempt; doubles each time (with ±20 % jitter) up to maxBackoffMs. Default 1000 ms. */
  backoffMs?: number;
  maxBackoffMs?: number;
  metrics?: QbgMetrics;
  log?: { warn(obj: object, msg: string): void };
  fetch?: typeof fetch;
}

export interface DeliveryStats {
  url: string;
  queued: number;
  delivered: number;
  failed: number;
  dropped: number;
  lastError?: string;
}

/** Check a webhook config entry (config file `webhooks:`), naming the field at fault. */
export function parseWebhookTargets(input: unknown): WebhookTarget[] {
  if (input === undefined || input === null) return [];
  if (!Array.isArray(input)) throw fieldError('webhooks', 'QBG_ERR_FIELD_TYPE', 'webhooks', 'a list of {url, events?, secret?}', typeof input);
  return input.map((w, i) => {
    const f = `webhooks[${i}]`;
    if (typeof w !== 'object' || w === null) throw fieldError(f, 'QBG_ERR_FIELD_TYPE', f, 'an object {url, events?, secret?}', w);
    const o = w as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!['url', 'events', 'secret'].includes(k)) throw fieldError(`${f}.${k}`, 'QBG_ERR_UNKNOWN_FIELD', `${f}.${k}`, 'url, events, secret');
    let url: URL;
    try {
      url = new URL(String(o.url));
    } catch {
      throw fieldError(`${f}.url`, 'QBG_ERR_FIELD_TYPE', `${f}.url`, 'an http:// or https:// URL', o.url);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw fieldError(`${f}.url`, 'QBG_ERR_FIELD_TYPE', `${f}.url`, 'an http:// or https:// URL', o.url);
    if (o.events !== undefined && (!Array.isArray(o.events) || o.events.some((e) => typeof e !== 'string'))) {
      throw fieldError(`${f}.events`, 'QBG_ERR_FIELD_TYPE', `${f}.events`, 'a list of event names', o.events);
    }
    if (o.secret !== undefined && (typeof o.secret !== 'string' || o.secret === '')) throw fieldError(`${f}.secret`, 'QBG_ERR_FIELD_TYPE', `${f}.secret`, 'a non-empty string', o.secret);
    return { url: url.toString(), events: o.events as string[] | undefined, secret: o.secret as string | undefined };
  });
}

export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Wait `ms`, or less if `signal` aborts. Leaves no listener on `signal` behind: the dispatcher's stop signal lives as
 *  long as qbg, and a receiver that stays down is retried for every event (one listener per retry added up). */
export const abortableSleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });

/** Retry network errors, time-outs, 5xx and 429; another 4xx means the receiver refuses this request for good. */
const retryable = (status: number) => status >= 500 || status === 429 || status === 408;

class Receiver {
  readonly queue: WebhookPayload[] = [];
  readonly stats: DeliveryStats;
  private readonly wanted: Set<string>;
  private working = false;
  private idle: Array<() => void> = [];

  constructor(
    readonly target: WebhookTarget,
    private readonly opts: Required<Pick<WebhookOptions, 'queueSize' | 'timeoutMs' | 'maxAttempts' | 'backoffMs' | 'maxBackoffMs'>> & WebhookOptions,
    private readonly stop: AbortSignal,
  ) {
    this.wanted = new Set(target.events ?? DEFAULT_WEBHOOK_EVENTS);
    this.stats = { url: target.url, queued: 0, delivered: 0, failed: 0, dropped: 0 };
  }

  wants(name: string): boolean {
    return this.wanted.has('*') || this.wanted.has(name);
  }

  offer(p: WebhookPayload): void {
    if (this.queue.length >= this.opts.queueSize) {
      this.queue.shift(); // the newest news is worth more than the oldest
      this.stats.dropped++;
      this.opts.metrics?.webhookDrop();
    }
    this.queue.push(p);
    this.stats.queued = this.queue.length;
    if (!this.working) void this.work();
  }

  /** Resolves when the queue is empty and no delivery is in flight. */
  drained(): Promise<void> {
    if (!this.working && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  private async work(): Promise<void> {
    this.working = true;
    try {
      while (this.queue.length > 0 && !this.stop.aborted) {
        const p = this.queue.shift()!;
        this.stats.queued = this.queue.length;
        await this.deliver(p);
      }
    } finally {
      this.working = false;
      const waiting = this.idle;
      this.idle = [];
      for (const r of waiting) r();
    }
  }

  private async deliver(p: WebhookPayload): Promise<void> {
    const body = JSON.stringify(p);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'qbg-webhook/1',
      'x-qbg-event': p.event,
      'x-qbg-delivery': p.deliveryId,
    };
    if (this.target.secret) headers['x-qbg-signature'] = signBody(this.target.secret, body);
    const doFetch = this.opts.fetch ?? fetch;
    let wait = this.opts.backoffMs;
    for (let attempt = 1; attempt <= this.opts.maxAttempts && !this.stop.aborted; attempt++) {
      let error: string;
      let again = true;
      try {
        const res = await doFetch(this.target.url, {
          method: 'POST',
          headers,
          body,
          signal: AbortSignal.any([AbortSignal.timeout(this.opts.timeoutMs), this.stop]),
          redirect: 'error',
        });
        await res.arrayBuffer().catch(() => undefined); // free the connection
        if (res.ok) {
          this.stats.delivered++;
          this.opts.metrics?.webhookAttempt('delivered');
          return;
        }
        error = `HTTP ${res.status}`;
        again = retryable(res.status);
      } catch (e) {
        const err = e as Error;
        error = err.name === 'TimeoutError' ? `no answer within ${this.opts.timeoutMs} ms` : String((err.cause as Error | undefined)?.message ?? err.message);
      }
      this.stats.lastError = error;
      if (!again || attempt === this.opts.maxAttempts) break;
      this.opts.metrics?.webhookAttempt('retry');
      this.opts.log?.warn({ url: this.target.url, event: p.event, deliveryId: p.deliveryId, attempt, error }, 'webhook delivery failed, retrying');
      await abortableSleep(wait * (0.8 + Math.random() * 0.4), this.stop);
      wait = Math.min(wait * 2, this.opts.maxBackoffMs);
    }
    this.stats.failed++;
    this.opts.metrics?.webhookAttempt('gave-up');
    this.opts.log?.warn({ url: this.target.url, event: p.event, deliveryId: p.deliveryId, error: this.stats.lastError }, 'webhook delivery gave up');
  }
}

export class WebhookDispatcher {
  private readonly receivers: Receiver[];
  private readonly stopper = new AbortController();

  constructor(targets: WebhookTarget[], opts: WebhookOptions = {}) {
    const full = { queueSize: 1000, timeoutMs: 5000, maxAttempts: 6, backoffMs: 1000, maxBackoffMs: 60_000, ...opts };
    this.receivers = targets.map((t) => new Receiver(t, full, this.stopper.signal));
  }

  /** Synchronous and cheap: safe to call from a bus listener. */
  offer(e: QbgEvent): void {
    if (this.stopper.signal.aborted) return;
    const name = eventName(e);
    for (const r of this.receivers) {
      if (r.wants(name)) r.offer({ deliveryId: randomUUID(), event: name, at: e.at, data: e });
    }
  }

  attach(bus: TransitionBus): () => void {
    return bus.subscribe((e) => this.offer(e));
  }

  stats(): DeliveryStats[] {
    return this.receivers.map((r) => ({ ...r.stats }));
  }

  /** Wait until every queue is empty (tests; graceful shutdown with a deadline). */
  async drain(): Promise<void> {
    await Promise.all(this.receivers.map((r) => r.drained()));
  }

  /** Stop: abort attempts in flight and backoff waits; queued events are abandoned. */
  async close(): Promise<void> {
    this.stopper.abort();
    await this.drain();
  }
}
