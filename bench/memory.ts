// Resident memory of a serving qbg with 10,000 NICs tracked (state + history in SQLite, every read path warmed),
// next to the same service with no NICs, each in its own compiled process after a full GC.
import { startServerChild } from './child.js';
import { withTempDir } from './common.js';
import { fmt, type BenchRow } from './table.js';

const NICS = 10_000;
const LIMIT = 100 * 1024 * 1024;

/** Memory of a serving qbg with `nics` NICs, after every NIC was read once over HTTP (from this process). */
async function rssWith(nics: number): Promise<{ rss: number; heapUsed: number; nicRoutes: boolean }> {
  return withTempDir('mem', async (dir) => {
    const c = await startServerChild(['qbg', String(nics), dir]);
    try {
      const a = c.ready.address;
      const probe = await fetch(`${a}/nics?limit=1`);
      await probe.arrayBuffer();
      if (probe.ok) {
        for (let off = 0; off < nics; off += 1000) await (await fetch(`${a}/nics?limit=1000&offset=${off}`)).arrayBuffer();
        for (const id of c.ready.sampleIds ?? []) await (await fetch(`${a}/nics/${id}`)).arrayBuffer();
      }
      const m = await c.memory();
      return { rss: m.rss, heapUsed: m.heapUsed, nicRoutes: probe.ok };
    } finally {
      await c.stop();
    }
  });
}

export async function benchMemory(): Promise<BenchRow[]> {
  const empty = await rssWith(0);
  const full = await rssWith(NICS);
  return [
    {
      what: `resident memory, ${fmt.int(NICS)} NICs tracked${full.nicRoutes ? ' (after reading them all through GET /nics)' : ' (NIC API not wired: reads not warmed)'}`,
      baseline: `${fmt.mb(empty.rss)} (same qbg, 0 NICs)`,
      qbg: `${fmt.mb(full.rss)} (heap ${fmt.mb(full.heapUsed)})`,
      ratio: fmt.x(full.rss / LIMIT, 'target'),
      target: "< 100 MB",
      met: full.rss < LIMIT,
    },
  ];
}
