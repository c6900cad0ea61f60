// The benchmark table. Every figure is a ratio measured in ONE run against a baseline on the same machine (the
// machines are shared and noisy: absolute numbers from two runs do not compare), or, where there is no baseline,
// the measured value against its target.
import { cpus, loadavg } from 'node:os';

export interface BenchRow {
  what: string;
  /** The baseline measured in the same run ('—' when the target is absolute). */
  baseline: string;
  qbg: string;
  /** e.g. "1.31× baseline" or "0.42× target"; '—' when not measured. */
  ratio: string;
  target: string;
  /** undefined = not measured (error or missing prerequisite: see note). */
  met: boolean | undefined;
  note?: string;
}

/** A row for a benchmark that could not run: it counts as not met, and says why. */
export function errorRow(what: string, target: string, err: unknown): BenchRow {
  const msg = err instanceof Error ? err.message : String(err);
  return { what, baseline: '—', qbg: 'not measured', ratio: '—', target, met: undefined, note: msg.split('\n')[0].slice(0, 200) };
}

const esc = (s: string): string => s.replace(/\|/g, '\\|');

export function metText(m: boolean | undefined): string {
  return m === undefined ? 'n/a' : m ? 'yes' : 'NO';
}

/** The markdown table: what | baseline | qbg | ratio | target | met? (notes as footnotes). */
export function formatTable(rows: BenchRow[]): string {
  const out = ['| what | baseline | qbg | ratio | target | met? |', '|---|---|---|---|---|---|'];
  const notes: string[] = [];
  for (const r of rows) {
    let what = esc(r.what);
    if (r.note) {
      notes.push(r.note);
      what += ` [${notes.length}]`;
    }
    out.push(`| ${what} | ${esc(r.baseline)} | ${esc(r.qbg)} | ${esc(r.ratio)} | ${esc(r.target)} | ${metText(r.met)} |`);
  }
  if (notes.length) out.push('', ...notes.map((n, i) => `[${i + 1}] ${n}`));
  return out.join('\n');
}

/** What the machine looked like: the table is only meaningful with it. */
export function machineLine(startLoad: number): string {
  const c = cpus();
  return `${new Date().toISOString()}, ${c.length} cores (${c[0]?.model.trim() ?? 'unknown'}), Node ${process.version}, load average ${startLoad.toFixed(1)} → ${loadavg()[0].toFixed(1)}`;
}

export const fmt = {
  /** 12345.6 → "12,346" */
  int: (n: number): string => Math.round(n).toLocaleString('en-US'),
  ms: (n: number): string => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2)) + ' ms',
  mb: (bytes: number): string => (bytes / (1024 * 1024)).toFixed(1) + ' MB',
  x: (n: number, of: string): string => `${n.toFixed(2)}× ${of}`,
};
