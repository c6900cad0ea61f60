// Where the time goes: the functions with the most self time in a V8 .cpuprofile (from `node --cpu-prof`, or
// QBG_BENCH_CPU_PROF=<dir> npm run bench -- <name>), and the same rolled up by file (package or src/ module).
// Usage: npx tsx bench/profile-top.ts <file.cpuprofile> [rows=25]
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
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

const IDLE = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

export function summarise(p: CpuProfile, rows = 25): string {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (n: ProfileNode): string => {
    const f = n.callFrame;
    return `${f.functionName || '(anonymous)'} ${where(f.url)}${f.url ? ':' + (f.lineNumber + 1) : ''}`;
  };
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  let busy = 0;
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  const incl = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    fn.set(name(node), (fn.get(name(node)) ?? 0) + us);
    const w = where(node.callFrame.url);
    file.set(w, (file.get(w) ?? 0) + us);
    if (!IDLE.has(node.callFrame.functionName)) busy += us;
    // inclusive: every distinct function on the stack of this sample
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur)!;
      if (n.callFrame.functionName === '(root)') break;
      const k = name(n);
      if (!seen.has(k)) {
        seen.add(k);
        incl.set(k, (incl.get(k) ?? 0) + us);
      }
    }
  }
  const top = (m: Map<string, number>, of: number): string[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, rows)
      .map(([k, us]) => `${((100 * us) / of).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
  return [
    `${(total / 1000).toFixed(0)} ms sampled, ${(busy / 1000).toFixed(0)} ms busy (not idle/GC/program); percentages of all samples`,
    '',
    'self time by function:',
    ...top(fn, total),
    '',
    'inclusive time by function (callers and callees):',
    ...top(incl, total),
    '',
    'self time by file/package:',
    ...top(file, total),
  ].join('\n');
}

if (process.argv[1]?.endsWith('profile-top.ts') || process.argv[1]?.endsWith('profile-top.js')) {
  const [file, rows] = process.argv.slice(2);
  if (!file) {
    console.error('usage: profile-top.ts <file.cpuprofile> [rows]');
    process.exit(2);
  }
  console.log(summarise(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(rows ?? 25)));
}
