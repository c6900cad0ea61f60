// One logger for the whole service (fastify's request logs and the services' own lines), and the rule for which
// level each event gets: info for the normal flow, warn for what an operator should look at (a timeout, a refusal
// by lldpad or the bridge, a NIC lost, a retry, a failed reconcile), error for qbg's own faults. A probe run that
// logs thousands of info lines and no warning hides exactly the lines that matter.
import { pino, type DestinationStream, type Logger } from 'pino';
import type { QbgEvent } from './transition-bus.js';
import type { TransitionBus } from './transition-bus.js';
import { loggerOptions } from '../api/log-redact.js';

export type LogLevel = 'info' | 'warn' | 'error';

/** pino JSON on stdout (or `destination`), tokens redacted from every line; 'silent' logs nothing. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return destination ? pino(loggerOptions(level), destination) : pino(loggerOptions(level));
}

/** NIC states an operator should hear about: lldpad or the bridge refused, no answer came, or a held VSI is gone. */
const WARN_STATES = new Set(['failed', 'timed-out', 'lost']);
/** Notices that mean lldpad went away or came back in another life. */
const WARN_NOTICES = new Set(['lldpad-restarted', 'lldpad-unreachable', 'uplink-drift']);

export function levelForEvent(e: QbgEvent): LogLevel {
  if (e.kind === 'nic-transition') {
    if (WARN_STATES.has(e.to)) return 'warn';
    // a retry of a NIC that failed before (the reconciler's backoff loop)
    if (e.cause === 'reconcile-retry') return 'warn';
    return 'info';
  }
  if (WARN_NOTICES.has(e.kind)) return 'warn';
  if (e.kind === 'reconcile-finished' && Number(e.detail.failed ?? 0) > 0) return 'warn';
  return 'info';
}

/** One log line per bus event (NIC transitions and service notices), at its level. */
export function logBusEvents(bus: TransitionBus, log: Logger): () => void {
  return bus.subscribe((e) => {
    const level = levelForEvent(e);
    if (!log.isLevelEnabled(level)) return; // the line is not built either (two transitions per associate)
    if (e.kind === 'nic-transition') {
      const { kind: _k, ...rest } = e;
      log[level](rest, `nic ${e.nicId}: ${e.from} → ${e.to} (${e.cause}${e.reason ? `: ${e.reason}` : ''})`);
    } else {
      log[level]({ notice: e.kind, ...e.detail }, e.kind);
    }
  });
}
