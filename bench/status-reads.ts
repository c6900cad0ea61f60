// Status reads as a monitor makes them: GET /nics (a page from the middle, by cursor; unfiltered and filtered) and
// GET /nics/:id against qbg with 10,000 NICs, and against bare fastify answering the very same bodies from memory —
// both servers compiled, each in its own process, autocannon in this one with the same settings, rounds
// alternating so drift in machine load hits both. Then a page with 100,000 NICs while the reconciler sweeps them
// back to back, and (informational) pages that are never the same twice in a row, so no answer is reused.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { startServerChild, type ServerChild } from './child.js';
import { withTempDir } from './common.js';
import { errorRow, fmt, type BenchRow } from './table.js';

const NICS = 10_000;
const BIG = 100_000;
const CONNECTIONS = 10;
const SECONDS = 3;
const ROUNDS = 4;
/** an unmeasured first second per server and case: the route's code warms up (JIT) outside the rounds */
const WARM_SECONDS = 1;
const MIN_SHARE = 0.7;
const P99_MS = 5;
const P99_BIG_MS = 10;

interface Load {
  reqPerSec: number;
  p99: number;
  bad: number;
  /** the server's CPU time (all its threads) per request answered, µs */
  serverCpuUs: number;
  /** the share of one core autocannon (this process) used: near 1, the client, not the server, set req/s */
  clientCpu: number;
}

/** Linux's clock tick for /proc/<pid>/stat (sysconf(_SC_CLK_TCK), 100 on every architecture node runs on here). */
const CLK_TCK = 100;

/** CPU seconds (user + system, all threads) process `pid` has used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // after "pid (comm) ": state is field 3 of the line, utime and stime fields 14 and 15
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** paths: one URL, or several taken in turn (each connection walks them round-robin); pid: the server's. */
async function cannon(base: string, paths: string[], pid: number, seconds = SECONDS): Promise<Load> {
  let i = 0;
  const server0 = cpuSeconds(pid);
  const client0 = process.cpuUsage();
  const wall0 = performance.now();
  const r = await autocannon({
    url: base + paths[0],
    connections: CONNECTIONS,
    pipelining: 1,
    duration: seconds,
    ...(paths.length > 1 ? { requests: [{ setupRequest: (req: { path?: string }) => ({ ...req, path: paths[i++ % paths.length] }) }] } : {}),
  });
  const client = process.cpuUsage(client0);
  const wallUs = (performance.now() - wall0) * 1000;
  return {
    reqPerSec: r.requests.average,
    p99: r.latency.p99,
    bad: r.errors + r.timeouts + r.non2xx,
    serverCpuUs: ((cpuSeconds(pid) - server0) * 1e6) / Math.max(1, r.requests.total),
    clientCpu: (client.user + client.system) / wallUs,
  };
}

function mean(xs: Load[]): Load {
  const n = xs.length;
  return {
    reqPerSec: xs.reduce((s, x) => s + x.reqPerSec, 0) / n,
    p99: xs.reduce((s, x) => s + x.p99, 0) / n,
    bad: xs.reduce((s, x) => s + x.bad, 0),
    serverCpuUs: xs.reduce((s, x) => s + x.serverCpuUs, 0) / n,
    clientCpu: xs.reduce((s, x) => s + x.clientCpu, 0) / n,
  };
}

async function body(url: string): Promise<string> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`GET ${url} answered ${r.status}`);
  return r.text();
}

interface ListPage {
  items: unknown[];
  total: number;
  next?: string;
}

/** The cursors of every page of `query` (limit 100), walked from the first page. */
async function cursors(base: string, query: string): Promise<string[]> {
  const out: string[] = [];
  let next: string | undefined;
  do {
    const page = JSON.parse(await body(`${base}/nics?limit=100${query}${next ? `&after=${encodeURIComponent(next)}` : ''}`)) as ListPage;
    next = page.next;
    if (next) out.push(next);
  } while (next);
  return out;
}

const pagePath = (query: string, cursor: string) => `/nics?limit=100${query}&after=${encodeURIComponent(cursor)}`;

export async function benchStatusReads(): Promise<BenchRow[]> {
  const rows = await withTempDir('reads', async (dir) => {
    let qbg: ServerChild | undefined;
    let bare: ServerChild | undefined;
    try {
      qbg = await startServerChild(['qbg', String(NICS), dir, 'still']);
      const q = qbg.ready.address;
      const all = await cursors(q, '');
      const eth2 = await cursors(q, '&uplink=eth2');
      const paths = {
        page: pagePath('', all[Math.floor(all.length / 2)]),
        filtered: pagePath('&uplink=eth2', eth2[Math.floor(eth2.length / 2)]),
        nic: `/nics/${qbg.ready.sampleIds![50]}`,
      };
      const bodies = { page: await body(q + paths.page), nic: await body(q + paths.nic) };
      const page = JSON.parse(bodies.page) as ListPage;
      if (page.items.length !== 100 || page.total !== NICS) throw new Error(`GET ${paths.page} gave ${page.items.length} of ${page.total} NICs, expected 100 of ${NICS}`);
      writeFileSync(join(dir, 'bodies.json'), JSON.stringify(bodies));
      bare = await startServerChild(['bare', join(dir, 'bodies.json')]);
      const b = bare.ready.address;

      const out: BenchRow[] = [];
      const cases: Array<[string[], 'page' | 'nic', string, boolean]> = [
        [[paths.page], 'page', `GET /nics (page of 100 in the middle by cursor, ${(bodies.page.length / 1024).toFixed(0)} KiB)`, true],
        [[paths.filtered], 'page', 'GET /nics?uplink=eth2 (page of 100 in the middle by cursor)', true],
        [[paths.nic], 'nic', 'GET /nics/:id', true],
        // every request a different page: what a page costs when no answer can be reused (after every write)
        [all.map((c) => pagePath('', c)), 'page', `GET /nics, each request another of the ${all.length} pages (no answer reused; informational ratio)`, false],
      ];
      for (const [qPaths, bareKey, label, ratioCounts] of cases) {
        const base: Load[] = [];
        const ours: Load[] = [];
        await cannon(b, [bareKey === 'page' ? paths.page : paths.nic], bare.pid, WARM_SECONDS);
        await cannon(q, qPaths, qbg.pid, WARM_SECONDS);
        for (let i = 0; i < ROUNDS; i++) {
          base.push(await cannon(b, [bareKey === 'page' ? paths.page : paths.nic], bare.pid));
          ours.push(await cannon(q, qPaths, qbg.pid));
        }
        const B = mean(base);
        const Q = mean(ours);
        const share = Q.reqPerSec / B.reqPerSec;
        out.push({
          what: `status reads, ${label}, ${fmt.int(NICS)} NICs tracked`,
          baseline: `${fmt.int(B.reqPerSec)} req/s, p99 ${fmt.ms(B.p99)}, ${B.serverCpuUs.toFixed(1)} µs CPU/req (bare fastify, same body)`,
          qbg: `${fmt.int(Q.reqPerSec)} req/s, p99 ${fmt.ms(Q.p99)}, ${Q.serverCpuUs.toFixed(1)} µs CPU/req`,
          // server CPU per request, bare's over qbg's: with both servers using a whole core it agrees with the req/s
          // ratio; where they part, autocannon (the note says how busy) capped one of them
          ratio: `${fmt.x(share, 'baseline req/s')} (CPU per request ${(B.serverCpuUs / Q.serverCpuUs).toFixed(2)}×)`,
          target: ratioCounts ? `≥ ${MIN_SHARE * 100}% req/s, p99 < ${P99_MS} ms` : `p99 < ${P99_MS} ms`,
          met: (!ratioCounts || share >= MIN_SHARE) && Q.p99 < P99_MS && Q.bad === 0,
          note: `autocannon ${CONNECTIONS} connections, ${SECONDS} s × ${ROUNDS} rounds per server after ${WARM_SECONDS} s unmeasured, alternating; autocannon used ${(B.clientCpu * 100).toFixed(0)} % / ${(Q.clientCpu * 100).toFixed(0)} % of a core (bare / qbg rounds); no reconciler sweep meanwhile (reads during sweeps: the ${fmt.int(BIG)}-NIC row)${Q.bad + B.bad ? `; errors/non-2xx qbg ${Q.bad}, bare ${B.bad}` : ''}`,
        });
      }
      return out;
    } finally {
      await bare?.stop();
      await qbg?.stop();
    }
  });
  try {
    rows.push(await bigWithSweep());
  } catch (e) {
    rows.push(errorRow(`status reads, GET /nics, ${fmt.int(BIG)} NICs, reconciler sweeping them meanwhile`, `p99 < ${P99_BIG_MS} ms`, e));
  }
  return rows;
}

/** 100,000 NICs, the reconciler sweeping all of them back to back, a page from the middle polled meanwhile. */
async function bigWithSweep(): Promise<BenchRow> {
  return withTempDir('reads-big', async (dir) => {
    const qbg = await startServerChild(['qbg', String(BIG), dir, 'sweep'], { timeoutMs: 600_000 });
    try {
      const q = qbg.ready.address;
      const all = await cursors(q, '');
      const path = pagePath('', all[Math.floor(all.length / 2)]);
      const before = await qbg.ask<{ sweeps: number; queries: number }>('sweeps');
      const loads: Load[] = [];
      for (let i = 0; i < ROUNDS; i++) loads.push(await cannon(q, [path], qbg.pid));
      const after = await qbg.ask<{ sweeps: number; queries: number }>('sweeps');
      const swept = after.queries - before.queries;
      const Q = mean(loads);
      return {
        what: `status reads, GET /nics (page of 100 in the middle by cursor), ${fmt.int(BIG)} NICs, reconciler sweeping them meanwhile`,
        baseline: '—',
        qbg: `${fmt.int(Q.reqPerSec)} req/s, p99 ${fmt.ms(Q.p99)}`,
        ratio: fmt.x(Q.p99 / P99_BIG_MS, 'target p99'),
        target: `p99 < ${P99_BIG_MS} ms`,
        met: Q.p99 < P99_BIG_MS && Q.bad === 0 && swept > 0,
        note: `the reconciler checked ${fmt.int(swept)} NICs (${after.sweeps - before.sweeps} full sweeps finished) during the ${ROUNDS * SECONDS} s of load; the lldpad stand-in answers each query in the next event-loop turn${Q.bad ? `; errors/non-2xx ${Q.bad}` : ''}`,
      };
    } finally {
      await qbg.stop();
    }
  });
}
