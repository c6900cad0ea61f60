// How many VDP22 requests qbg hands lldpad at once on one uplink: an additive-increase / multiplicative-decrease
// window like TCP's congestion window. Pure (no clock, no I/O): the VDP22 client feeds it what happened.
//
// Why adaptive: each uplink is one ECP channel that carries one VDP message per RTE period each way (docs/ecp.md),
// so a second request in flight keeps the channel busy while the first one's answer travels back (up to ~1.5× the
// throughput of one at a time). But lldpad hands a received VDP frame to VDP only 2 ms later, from ONE buffer per
// port (qbg/vdp22.c data_from_ecp): a second frame that arrives before then overwrites the first, already ACKed, so
// nothing repeats it and that VSI's answer never comes (lldpad waits ~16 s). Frames arrive bunched when lldpad is
// not scheduled in time — a loaded host — and the more requests are in flight, the denser they are. So: grow while
// answers come back in time, halve on a loss, never below one request.
import { qbgError } from './errors.js';

export interface RequestWindowOptions {
  /** Upper bound (config lldpad.maxInFlight). */
  max: number;
  /** Start here (default 1: the first batch on a loaded host must not start by losing answers). */
  initial?: number;
  /** An answer slower than this does not grow the window (it came, but not in time: lldpad queues). */
  inTimeMs: number;
}

export class RequestWindow {
  readonly max: number;
  readonly inTimeMs: number;
  /** Fractional size: +1/size per answer in time = +1 per window's worth of answers. */
  private size: number;
  /** Bumped at every reduction: losses of requests sent before it halve only once (one loss event per window). */
  private epoch = 0;
  /** Counters for metrics and the benchmark's notes. */
  losses = 0;
  reductions = 0;

  constructor(opts: RequestWindowOptions) {
    if (!Number.isInteger(opts.max) || opts.max < 1 || opts.max > 256) throw qbgError('QBG_ERR_INTEGER_RANGE', 'maxInFlight', 1, 256, opts.max);
    this.max = opts.max;
    this.inTimeMs = opts.inTimeMs;
    this.size = Math.min(this.max, Math.max(1, opts.initial ?? 1));
  }

  /** Requests that may be in lldpad at once now. */
  get limit(): number {
    return Math.max(1, Math.min(this.max, Math.floor(this.size)));
  }

  /** Stamp for a request being sent: hand it back with lost() so that one burst of losses halves once. */
  get stamp(): number {
    return this.epoch;
  }

  /** An answer came (accepted or refused by the bridge: either way the channel carried it), latencyMs after sending. */
  answered(latencyMs: number): void {
    if (latencyMs > this.inTimeMs) return;
    this.size = Math.min(this.max, this.size + 1 / Math.max(1, Math.floor(this.size)));
  }

  /**
   * A request sent at `stamp` lost its answer (timed out, overtaken and still unanswered in lldpad, or lldpad's own
   * ACK timeout). Halves the window unless it was already reduced after that request was sent.
   */
  lost(stamp: number): void {
    this.losses++;
    if (stamp < this.epoch) return;
    this.size = Math.max(1, Math.floor(this.size / 2));
    this.epoch++;
    this.reductions++;
  }
}
