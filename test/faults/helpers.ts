// Shared pieces of the fault tests: a lab station + a real `qbg serve` process on it, the HTTP calls a hook makes,
// batches of associations with bounded concurrency, a local webhook receiver, and the one check every fault ends
// with — nothing lost: each NIC in the state the API should show, each VSI held by lldpad exactly once (asked per
// instance UUID: vdptool's list-all form prints nothing past ~25 VSIs).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startLab, type Lab, type TeardownHost } from '../lab/harness.js';
import { startQbg, type QbgProcess } from '../helpers/qbg-process.js';

export const TYPE = { name: 'fault-tier', managerId: 10, typeId: 4242, typeIdVersion: 1, allowedVlans: [100] };

export interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  ms: number;
}

import { until } from '../helpers/until.js';
import { bounded } from '../helpers/bounded.js';
export { until };

/** One HTTP call; a refused/reset connection (qbg killed) is status 0, never a throw. */
export async function call(base: string, method: string, path: string, body?: unknown): Promise<Reply> {
  const t0 = performance.now();
  try {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* metrics are text */
    }
    return { status: res.status, body: parsed, ms: performance.now() - t0 };
  } catch (e) {
    return { status: 0, body: { error: String((e as Error).cause ?? e) }, ms: performance.now() - t0 };
  }
}

/** The hook's associate body for NIC number i (distinct VM UUID and MAC per i, within one batch prefix). */
export function nicBody(i: number, prefix = 0): { vmUuid: string; mac: string; uplink: string; type: string; vlan: number } {
  const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');
  return {
    vmUuid: `${hex(prefix, 8)}-0000-4000-8000-${hex(i, 12)}`,
    mac: `52:54:${hex(prefix & 0xff, 2)}:00:${hex((i >> 8) & 0xff, 2)}:${hex(i & 0xff, 2)}`,
    uplink: 's0',
    type: TYPE.name,
    vlan: 100,
  };
}

export function nicIdOf(b: { vmUuid: string; mac: string }): string {
  return `${b.vmUuid}_${b.mac}`;
}

export { bounded };

/** How many times lldpad reports holding this instance UUID (0, 1, or — the bug we look for — more). */
// `hints` in the query output is the VSI's last status from the bridge: 0 = accepted; 255 (0xff) = lldpad still
// lists the VSI but the bridge never answered (seen while the bridge lldpad is stopped).
export async function heldTimes(lab: Lab, uuid: string, station = 'st1'): Promise<{ n: number; mode?: string; hints?: string; raw: string }> {
  const r = await lab.vdptool(station, ['-i', 's0', '-t', '-V', 'assoc', '-c', `uuid=${uuid}`]);
  const n = r.stdout.split(`uuid = ${uuid}`).length - 1;
  const mode = /mode = (\S+)/.exec(r.stdout)?.[1];
  const hints = /hints = (\S+)/.exec(r.stdout)?.[1];
  return { n, mode, hints, raw: r.stdout + r.stderr };
}

export interface NicRow {
  id: string;
  state: string;
  instanceUuid: string;
  desiredMode: string;
  reason?: string;
}

/** Every NIC qbg knows (paged). */
export async function allNics(base: string): Promise<NicRow[]> {
  const out: NicRow[] = [];
  for (let offset = 0; ; offset += 1000) {
    const r = await call(base, 'GET', `/nics?limit=1000&offset=${offset}`);
    if (r.status !== 200) throw new Error(`GET /nics answered ${r.status}: ${JSON.stringify(r.body)}`);
    out.push(...r.body.items);
    if (out.length >= r.body.total || r.body.items.length === 0) return out;
  }
}

export interface Tally {
  [state: string]: number;
}

export function tally(rows: Array<{ state?: string; status?: number }>, key: 'state' | 'status'): Tally {
  const t: Tally = {};
  for (const r of rows) {
    const k = String(r[key]);
    t[k] = (t[k] ?? 0) + 1;
  }
  return t;
}

/**
 * Wait until every given NIC is in `state` per the API and lldpad holds each VSI exactly once (or not at all for
 * disassociated), then return what was seen. Throws with the stragglers named when the time runs out.
 */
export async function settledAndHeld(
  lab: Lab,
  base: string,
  ids: string[],
  state: 'associated' | 'disassociated',
  timeoutMs = 60_000,
): Promise<{ nics: NicRow[]; held: number[] }> {
  let lastBad = '';
  try {
    return await until(
      `${ids.length} NICs ${state} and held ${state === 'associated' ? 'once' : 'never'}`,
      async () => {
        const byId = new Map((await allNics(base)).map((n) => [n.id, n]));
        const nics = ids.map((id) => byId.get(id));
        const wrong = nics.map((n, i) => (n?.state === state ? undefined : `${ids[i]}: ${n?.state ?? 'unknown'}`)).filter(Boolean);
        if (wrong.length) {
          lastBad = `${wrong.length} not ${state}, e.g. ${wrong.slice(0, 3).join('; ')}`;
          return undefined;
        }
        const seen = await bounded(nics.length, 8, (i) => heldTimes(lab, nics[i]!.instanceUuid));
        const held = seen.map((h) => h.n);
        const want = state === 'associated' ? 1 : 0;
        // held once, in assoc mode, and accepted by the bridge (not a VSI lldpad lists while nobody answered)
        const good = (i: number) => held[i] === want && (want === 0 || (seen[i].mode === 'assoc' && seen[i].hints === '0'));
        const off = held
          .map((n, i) => (good(i) ? undefined : `${nics[i]!.instanceUuid} held ${n}× mode ${seen[i].mode} hints ${seen[i].hints}`))
          .filter(Boolean);
        if (off.length) {
          lastBad = `${off.length} VSIs not held ${want}×, e.g. ${off.slice(0, 3).join('; ')}`;
          return undefined;
        }
        return { nics: nics as NicRow[], held };
      },
      timeoutMs,
      500,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message} — last seen: ${lastBad}`);
  }
}

/** A numeric sample from /metrics text (sum over label sets matching `labels`, a substring). */
export function metric(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#')) continue;
    const [key, value] = [line.slice(0, line.lastIndexOf(' ')), line.slice(line.lastIndexOf(' ') + 1)];
    if (key !== name && !key.startsWith(`${name}{`)) continue;
    if (labels && !key.includes(labels)) continue;
    sum += Number(value);
  }
  return sum;
}

export interface Rig {
  lab: Lab;
  qbg: QbgProcess;
  dbPath: string;
  api(method: string, path: string, body?: unknown): Promise<Reply>;
  /** Start (again) a qbg on the same database (after kill/stop). */
  restartQbg(): Promise<QbgProcess>;
}

/**
 * A lab (one station, lldpad bridge, station EVB pre-written) and a qbg serve on it with the station uplink
 * configured, ready (EVB exchanged, /readyz 200), with the fault-tier VSI type created.
 */
export async function startRig(t: TeardownHost, opts: { webhooks?: Array<{ url: string; events?: string[] }>; dbPath?: string } = {}): Promise<Rig> {
  const lab = await startLab(t, { stations: 1, stationEvb: true });
  const st = lab.station('st1');
  let dbPath = opts.dbPath ?? '';
  const config = (): Record<string, unknown> => ({
    lldpad: { netns: st.netns, transport: 'vdp22' },
    uplinks: [{ uplink: 's0', netns: st.netns, gpid: true, reflectiveRelay: true }],
    reconcile: { intervalSeconds: 2, concurrency: 8 },
    ...(opts.webhooks ? { webhooks: opts.webhooks } : {}),
    ...(dbPath ? { dbPath } : {}),
  });
  let qbg = await startQbg({ config: config() });
  if (!dbPath) dbPath = `${qbg.dir}/qbg.db`;
  // Teardown kills whichever qbg is current (restartQbg replaces it).
  t.teardown(() => qbg.kill());
  const rig: Rig = {
    lab,
    get qbg() {
      return qbg;
    },
    dbPath,
    api: (method, path, body) => call(qbg.url, method, path, body),
    async restartQbg() {
      qbg = await startQbg({ config: config() });
      return qbg;
    },
  };
  await lab.waitForEvb('st1');
  await until('qbg /readyz 200 (lldpad answers, EVB up on s0)', async () => (await rig.api('GET', '/readyz')).status === 200, 30_000);
  const created = await rig.api('POST', '/types', TYPE);
  if (created.status !== 201) throw new Error(`creating VSI type answered ${created.status}: ${JSON.stringify(created.body)}`);
  return rig;
}

export interface Receiver {
  url: string;
  received: Array<{ event: string; deliveryId?: string; data: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** ok: answer 204 at once; hang: read the request and never answer; dead: refuse (connections reset). */
  mode: 'ok' | 'hang' | 'dead';
  close(): Promise<void>;
}

/** A real local HTTP webhook receiver whose behaviour a test can switch. */
export async function startReceiver(t: TeardownHost): Promise<Receiver> {
  const hanging = new Set<ServerResponse>();
  const rx: Receiver = { url: '', received: [], mode: 'ok', close: async () => undefined };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (rx.mode === 'dead') {
      req.socket.destroy();
      return;
    }
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (rx.mode === 'hang') {
        hanging.add(res);
        return;
      }
      try {
        rx.received.push(JSON.parse(body));
      } catch {
        rx.received.push({ event: 'unparsable', data: body });
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  rx.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  rx.close = () =>
    new Promise<void>((r) => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      server.close(() => r());
    });
  t.teardown(() => rx.close());
  return rx;
}

export function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
}
