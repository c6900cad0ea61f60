// Where the time goes: the functions with the most self time in a V8 .cpuprofile (from `node --cpu-prof`, or
// QBG_BENCH_CPU_PROF=<dir> npm run bench -- <name>), and the same rolled up by file (package or src/ module).
// Usage: npx tsx bench/profile-top.ts <file.cpuprofile> [rows=25]
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** node_modules/<pkg>/… → <pkg>; …/src/x/y.js → src/x/y; node:… stays. */
function where(url: string): string {
  if (!url) return '(native/V8)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm && !url.includes('.cache/qbg-bench')) return nm[1];
  const src = /\/((?:src|bench)\/.*?)\.[jt]s$/.exec(url);
  return src ? src[1] : url.replace(/^file:\/\//, '');
}

export function summarise(p: CpuProfile, rows = 25): string {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    const w = where(f.url);
    const name = `${f.functionName || '(anonymous)'} ${w}${f.url ? ':' + (f.lineNumber + 1) : ''}`;
    fn.set(name, (fn.get(name) ?? 0) + us);
    file.set(w, (file.get(w) ?? 0) + us);
  }
  const top = (m: Map<string, number>): string[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, rows)
      .map(([k, us]) => `${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
  return [`total ${(total / 1000).toFixed(0)} ms sampled`, '', 'self time by function:', ...top(fn), '', 'self time by file/package:', ...top(file)].join('\n');
}

if (process.argv[1]?.endsWith('profile-top.ts') || process.argv[1]?.endsWith('profile-top.js')) {
  const [file, rows] = process.argv.slice(2);
  if (!file) {
    console.error('usage: profile-top.ts <file.cpuprofile> [rows]');
    process.exit(2);
  }
  console.log(summarise(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(rows ?? 25)));
}
