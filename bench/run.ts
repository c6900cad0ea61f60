// `npm run bench [-- NAME…]`: runs the benchmarks (all, or the named ones) one after another and prints one table.
// Each benchmark brings up and tears down what it needs (temp dirs, labs, servers); a benchmark that fails or
// lacks a prerequisite (root, lldpad) prints as "not measured" with the reason, and the others still run.
// Exit code: 0 all targets met, 1 some missed or not measured, 2 bad arguments.
import { loadavg } from 'node:os';
import { benchXml } from './xml.js';
import { benchMemory } from './memory.js';
import { benchStatusReads } from './status-reads.js';
import { benchAssociate } from './associate.js';
import { benchReassociate } from './reassociate.js';
import { benchFleet } from './fleet.js';
import { benchLibvirt } from './libvirt.js';
import { errorRow, formatTable, machineLine, type BenchRow } from './table.js';

interface Bench {
  name: string;
  /** what/target of the rows it would print, for the "not measured" row when it throws */
  what: string;
  target: string;
  run: () => Promise<BenchRow[]>;
}

const BENCHES: Bench[] = [
  { name: 'xml', what: 'interface XML generation and domain rewrite', target: '≥ 20,000 XML/s; rewrite ≥ 40,000 interface XML/s', run: benchXml },
  { name: 'memory', what: 'resident memory, 10,000 NICs tracked', target: '< 100 MB', run: benchMemory },
  { name: 'status-reads', what: 'status reads, 10,000 NICs tracked', target: '≥ 70% of bare fastify req/s, p99 < 5 ms; 100,000 NICs + sweep p99 < 10 ms', run: benchStatusReads },
  { name: 'associate', what: 'end-to-end associate (API → lldpad → bridge → stored)', target: '≤ 1.5× vdptool per NIC; own cost ≤ 1 ms; batch ≥ 5× faster, also with a CPU hog; 2 uplinks ≥ 1.8×', run: benchAssociate },
  { name: 'reassociate', what: 're-association of 500 NICs after an lldpad restart', target: '≤ 1.2× the batch time', run: benchReassociate },
  { name: 'libvirt', what: 'virsh start/destroy with qbg vs libvirt alone (real libvirtd, TCG guest)', target: 'measured', run: benchLibvirt },
  { name: 'fleet', what: 'fleet: 200 agents × 500 NICs on one PostgreSQL', target: 'fleet-view p99 < 50 ms', run: benchFleet },
];

/** A benchmark still running after this is abandoned; the run then ends with process.exit, whose handlers tear
 *  down its labs, servers and temp dirs (bench/common.ts). */
const HARD_LIMIT_MS = 15 * 60_000;
let abandoned = false;

async function main(): Promise<number> {
  const asked = process.argv.slice(2).filter((a) => a !== '--');
  const unknown = asked.filter((a) => !BENCHES.some((b) => b.name === a));
  if (unknown.length) {
    console.error(`unknown benchmark(s) ${unknown.join(', ')}; choose from ${BENCHES.map((b) => b.name).join(', ')}`);
    return 2;
  }
  const chosen = asked.length ? BENCHES.filter((b) => asked.includes(b.name)) : BENCHES;
  const load0 = loadavg()[0];
  const rows: BenchRow[] = [];
  for (const b of chosen) {
    const t0 = performance.now();
    process.stderr.write(`bench ${b.name} … `);
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abandoned = true;
        reject(new Error(`gave up after ${HARD_LIMIT_MS / 60_000} min`));
      }, HARD_LIMIT_MS);
    });
    try {
      rows.push(...(await Promise.race([b.run(), limit])));
      process.stderr.write(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    } catch (e) {
      process.stderr.write(`FAILED: ${(e as Error).message}\n`);
      rows.push(errorRow(b.what, b.target, e));
    } finally {
      clearTimeout(timer);
    }
  }
  console.log(`qbg benchmarks — ${machineLine(load0)}\n`);
  console.log(formatTable(rows));
  return rows.every((r) => r.met === true) ? 0 : 1;
}

const code = await main();
if (abandoned) process.exit(code);
process.exitCode = code;
