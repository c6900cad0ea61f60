// GET /events: a server-sent events stream of NIC transitions and service notices (role monitor; a browser's
// EventSource passes ?token= because it cannot send headers). Transitions carry their persisted history seq as
// the SSE id, so a client that reconnects with Last-Event-ID (EventSource does it by itself) gets what it missed
// replayed from the history before the live stream resumes. Notices are not persisted: they are live only.
import type { FastifyPluginAsync } from 'fastify';
import type { ServerResponse } from 'node:http';
import { fieldError } from '../domain/errors.js';
import type { TransitionHistory } from '../service/event-log.js';
import type { QbgMetrics } from '../service/metrics.js';
import type { QbgEvent, ServiceNotice, TransitionBus } from '../service/transition-bus.js';

export const NOTICE_KINDS: readonly ServiceNotice['kind'][] = [
  'lldpad-restarted',
  'lldpad-unreachable',
  'lldpad-reachable',
  'reconcile-started',
  'reconcile-finished',
  'uplink-drift',
  'fleet-double-held',
  'fleet-migration-source-holding',
  'fleet-host-stale',
];
/** Values of ?kind=: one event kind, or 'notice' for every notice kind. */
export const EVENT_KINDS = ['nic-transition', 'notice', ...NOTICE_KINDS] as const;

export interface EventsRouteDeps {
  bus: TransitionBus;
  history: TransitionHistory;
  /** A comment line this often keeps proxies and NAT from closing an idle stream. Default 15000 ms. */
  heartbeatMs?: number;
  /** Page size when replaying history. Default 500. */
  replayPageSize?: number;
  /** A client whose unsent output grows beyond this is disconnected; it reconnects and replays. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Reconnect delay suggested to EventSource clients. Default 2000 ms. */
  retryMs?: number;
  metrics?: QbgMetrics;
}

export interface EventFilter {
  vm?: string;
  nic?: string;
  kinds?: Set<string>;
}

/**
 * vm and nic narrow transitions (nic matches the NIC id or its MAC); they drop notices unless ?kind= asks for
 * notices explicitly, since a notice belongs to no VM.
 */
export function matches(f: EventFilter, e: QbgEvent): boolean {
  if (e.kind === 'nic-transition') {
    if (f.kinds && !f.kinds.has('nic-transition')) return false;
    if (f.vm !== undefined && e.vmUuid !== f.vm) return false;
    if (f.nic !== undefined && e.nicId !== f.nic && e.mac.toLowerCase() !== f.nic.toLowerCase()) return false;
    return true;
  }
  if (f.kinds) return f.kinds.has(e.kind) || f.kinds.has('notice');
  return f.vm === undefined && f.nic === undefined;
}

export function formatSse(e: QbgEvent): string {
  const id = e.kind === 'nic-transition' ? `id: ${e.seq}\n` : '';
  return `${id}event: ${e.kind}\ndata: ${JSON.stringify(e)}\n\n`;
}

function parseLastEventId(header: unknown, since: unknown): number | undefined {
  const raw = typeof header === 'string' && header !== '' ? header : since;
  if (raw === undefined || raw === '') return undefined;
  const field = typeof header === 'string' && header !== '' ? 'Last-Event-ID' : 'since';
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw fieldError(field, 'QBG_ERR_FIELD_TYPE', field, 'an event id (integer ≥ 0)', raw);
  return n;
}

function parseKinds(v: unknown): Set<string> | undefined {
  if (v === undefined || v === '') return undefined;
  const list = String(v).split(',').map((s) => s.trim()).filter(Boolean);
  for (const k of list) {
    if (!(EVENT_KINDS as readonly string[]).includes(k)) throw fieldError('kind', 'QBG_ERR_ENUM', 'kind', EVENT_KINDS.join(', '), k);
  }
  return new Set(list);
}

const querystring = {
  type: 'object',
  properties: {
    vm: { type: 'string', maxLength: 64, description: 'only transitions of this VM (UUID)' },
    nic: { type: 'string', maxLength: 64, description: 'only transitions of this NIC (id or MAC)' },
    kind: { type: 'string', maxLength: 256, description: `comma-separated: ${EVENT_KINDS.join(', ')}` },
    since: { type: 'string', maxLength: 20, description: 'replay transitions after this event id (like Last-Event-ID)' },
    token: { type: 'string', maxLength: 512, description: 'bearer token, for EventSource clients that cannot send headers' },
  },
  additionalProperties: false,
} as const;

export function eventsRoutes(deps: EventsRouteDeps): FastifyPluginAsync {
  const heartbeatMs = deps.heartbeatMs ?? 15_000;
  const pageSize = deps.replayPageSize ?? 500;
  const maxBuffered = deps.maxBufferedBytes ?? 1024 * 1024;
  const retryMs = deps.retryMs ?? 2000;

  return async (app) => {
    const open = new Set<ServerResponse>();
    // Streams never end by themselves: end them before the server waits for its connections to close.
    app.addHook('preClose', async () => {
      for (const res of open) res.end();
    });

    app.get(
      '/events',
      {
        config: { role: 'monitor', urlToken: true }, // EventSource cannot send headers
        schema: {
          tags: ['events'],
          summary: 'Server-sent events: NIC transitions (id = history seq, resumable with Last-Event-ID) and notices',
          querystring,
        },
      },
      async (req, reply) => {
        const q = req.query as { vm?: string; nic?: string; kind?: string; since?: string };
        const filter: EventFilter = { vm: q.vm, nic: q.nic, kinds: parseKinds(q.kind) };
        const resumeAfter = parseLastEventId(req.headers['last-event-id'], q.since);

        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no', // nginx: do not buffer the stream
        });
        res.write(`retry: ${retryMs}\n\n`);
        open.add(res);
        deps.metrics?.eventStreamClients(1);

        let lastSeq = resumeAfter ?? -1;
        let closed = false;
        /** Write one event; false when the socket buffer is full (the replay then waits for 'drain'). */
        const send = (e: QbgEvent): boolean => {
          if (closed || res.writableEnded || !matches(filter, e)) return true;
          if (e.kind === 'nic-transition') {
            if (e.seq <= lastSeq) return true; // already sent by the replay
            lastSeq = e.seq;
          }
          return res.write(formatSse(e));
        };
        const sendLive = (e: QbgEvent): void => {
          send(e);
          // A client that does not read would make us buffer without bound: drop it, it will resume by id.
          if (res.writableLength > maxBuffered) res.end();
        };
        const drained = () =>
          new Promise<void>((resolve) => {
            const done = () => {
              res.off('drain', done);
              res.off('close', done);
              resolve();
            };
            res.on('drain', done);
            res.on('close', done);
          });

        // Subscribe before replaying, hold live events until the replay is done, so nothing falls in between.
        let pending: QbgEvent[] | undefined = [];
        const unsubscribe = deps.bus.subscribe((e) => (pending ? pending.push(e) : sendLive(e)));
        const heartbeat = setInterval(() => {
          if (!res.writableEnded) res.write(': heartbeat\n\n');
        }, heartbeatMs);
        res.on('error', (err) => req.log.debug({ err }, 'event stream closed with an error'));
        res.on('close', () => {
          closed = true;
          clearInterval(heartbeat);
          unsubscribe();
          open.delete(res);
          deps.metrics?.eventStreamClients(-1);
        });

        if (resumeAfter !== undefined) {
          try {
            for (;;) {
              const page = await deps.history.historySince(lastSeq, pageSize);
              for (const e of page) {
                if (!matches(filter, e)) lastSeq = Math.max(lastSeq, e.seq);
                // a long replay goes at the client's pace instead of piling up in memory
                else if (!send(e) && !closed) await drained();
              }
              if (page.length < pageSize || closed) break;
              lastSeq = Math.max(lastSeq, page[page.length - 1].seq);
            }
          } catch (err) {
            req.log.error({ err }, 'event history replay failed');
            res.write(`event: replay-failed\ndata: ${JSON.stringify({ error: (err as Error).message })}\n\n`);
            res.end();
            return;
          }
        }
        const held = pending;
        pending = undefined;
        for (const e of held) sendLive(e);
      },
    );
  };
}
