#!/usr/bin/env node
// Reads tap's raw TAP stream (tap --reporter=tap) on stdin and prints one line per test file, the full TAP of
// any file that failed, and a closing line "N passed, N failed[, N skipped]" that CI recognises.
// Counted: the tests directly inside each file (its t.test() subtests and top-level assertions). A file that
// crashed or timed out without a failing test inside still counts as one failure.
// Exits 1 when anything failed or nothing ran.
import { createInterface } from 'node:readline';

let passed = 0;
let failed = 0;
let skipped = 0;
let fileLines = [];
let fileFailedInside = 0;
let filePassed = 0;

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  fileLines.push(line);
  const inner = /^ {4}(not ok|ok) \d+/.exec(line);
  if (inner) {
    if (/# (SKIP|TODO)\b/i.test(line)) skipped++;
    else if (inner[1] === 'ok') {
      passed++;
      filePassed++;
    } else {
      failed++;
      fileFailedInside++;
    }
    continue;
  }
  const top = /^(not ok|ok) \d+ - (.*?)(?: # time=([\d.]+)ms)?$/.exec(line);
  if (top) {
    const fileOk = top[1] === 'ok';
    if (!fileOk && fileFailedInside === 0) failed++;
    const secs = top[3] ? `, ${(Number(top[3]) / 1000).toFixed(1)} s` : '';
    process.stdout.write(`${fileOk ? 'ok    ' : 'FAILED'} ${top[2]} (${filePassed} passed${fileFailedInside ? `, ${fileFailedInside} failed` : ''}${secs})\n`);
    if (!fileOk) process.stdout.write(fileLines.join('\n') + '\n');
    fileLines = [];
    fileFailedInside = 0;
    filePassed = 0;
  }
}
// Anything after the last file (tap's own errors) is shown as is.
if (fileLines.some((l) => l.trim() && !/^(TAP version|1\.\.\d+|#)/.test(l.trim()))) process.stdout.write(fileLines.join('\n') + '\n');
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
