// Status reads with 10,000 NICs tracked: GET /nics (a page from the middle) and GET /nics/:id against qbg, and
// against bare fastify answering the very same bodies from memory — both servers compiled, each in its own
// process, autocannon in this one with the same settings, rounds alternating so drift in machine load hits both.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { startServerChild, type ServerChild } from './child.js';
import { withTempDir } from './common.js';
import { fmt, type BenchRow } from './table.js';

const NICS = 10_000;
const CONNECTIONS = 10;
const SECONDS = 5;
const ROUNDS = 2;
const MIN_SHARE = 0.7;
const P99_MS = 5;

interface Load {
  reqPerSec: number;
  p99: number;
  bad: number;
}

async function cannon(url: string): Promise<Load> {
  const r = await autocannon({ url, connections: CONNECTIONS, pipelining: 1, duration: SECONDS });
  return { reqPerSec: r.requests.average, p99: r.latency.p99, bad: r.errors + r.timeouts + r.non2xx };
}

function mean(xs: Load[]): Load {
  const n = xs.length;
  return {
    reqPerSec: xs.reduce((s, x) => s + x.reqPerSec, 0) / n,
    p99: xs.reduce((s, x) => s + x.p99, 0) / n,
    bad: xs.reduce((s, x) => s + x.bad, 0),
  };
}

async function body(url: string): Promise<string> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`GET ${url} answered ${r.status}`);
  return r.text();
}

export async function benchStatusReads(): Promise<BenchRow[]> {
  return withTempDir('reads', async (dir) => {
    let qbg: ServerChild | undefined;
    let bare: ServerChild | undefined;
    try {
      qbg = await startServerChild(['qbg', String(NICS), dir]);
      const q = qbg.ready.address;
      const probe = await fetch(`${q}/nics?limit=1`);
      await probe.arrayBuffer();
      if (probe.status === 404) throw new Error('GET /nics answers 404: the NIC API is not wired into createService yet');
      const paths = { page: `/nics?limit=100&offset=${NICS / 2}`, nic: `/nics/${qbg.ready.sampleIds![50]}` };
      const bodies = { page: await body(q + paths.page), nic: await body(q + paths.nic) };
      const items = (JSON.parse(bodies.page) as { items: unknown[] }).items.length;
      if (items !== 100) throw new Error(`GET ${paths.page} gave ${items} NICs, expected 100`);
      writeFileSync(join(dir, 'bodies.json'), JSON.stringify(bodies));
      bare = await startServerChild(['bare', join(dir, 'bodies.json')]);
      const b = bare.ready.address;

      const rows: BenchRow[] = [];
      for (const [key, label] of [
        ['page', `GET /nics (page of 100 at offset ${NICS / 2}, ${(bodies.page.length / 1024).toFixed(0)} KiB)`],
        ['nic', 'GET /nics/:id'],
      ] as const) {
        const base: Load[] = [];
        const ours: Load[] = [];
        for (let i = 0; i < ROUNDS; i++) {
          base.push(await cannon(b + paths[key]));
          ours.push(await cannon(q + paths[key]));
        }
        const B = mean(base);
        const Q = mean(ours);
        const share = Q.reqPerSec / B.reqPerSec;
        rows.push({
          what: `status reads, ${label}, ${fmt.int(NICS)} NICs tracked`,
          baseline: `${fmt.int(B.reqPerSec)} req/s, p99 ${fmt.ms(B.p99)} (bare fastify, same body)`,
          qbg: `${fmt.int(Q.reqPerSec)} req/s, p99 ${fmt.ms(Q.p99)}`,
          ratio: fmt.x(share, 'baseline req/s'),
          target: `≥ ${MIN_SHARE * 100}% req/s, p99 < ${P99_MS} ms`,
          met: share >= MIN_SHARE && Q.p99 < P99_MS && Q.bad === 0,
          note: `autocannon ${CONNECTIONS} connections, ${SECONDS} s × ${ROUNDS} rounds per server, alternating${Q.bad + B.bad ? `; errors/non-2xx qbg ${Q.bad}, bare ${B.bad}` : ''}`,
        });
      }
      return rows;
    } finally {
      await bare?.stop();
      await qbg?.stop();
    }
  });
}
