// What a serving qbg loads at start (memory: docs/benchmarks.md): not swagger-ui (loaded at the first /docs visit),
// not xmlbuilder2 (at the first XML generated), not the PostgreSQL client (only with a fleet), never playwright.
// Module loading is process-wide, so the service runs in a child process of its own.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const child = fileURLToPath(new URL('../helpers/serve-modules.ts', import.meta.url));
const out = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', child], { encoding: 'utf8', timeout: 120_000 }).trim().split('\n').at(-1)!) as {
  atStart: string[];
  afterUse: string[];
  docsStatus: number;
  docsHtml: string;
  specPaths: number;
  xmlStatus: number;
  xmlText: string;
};

t.test('idle qbg serve: only what serving needs is loaded', async (t) => {
  t.ok(out.atStart.includes('fastify') && out.atStart.includes('better-sqlite3'), `the service did load: ${out.atStart.join(' ')}`);
  for (const lazy of ['@fastify/swagger-ui', '@fastify/static', 'xmlbuilder2', 'pg', 'playwright-core', 'playwright']) {
    t.notOk(out.atStart.includes(lazy), `${lazy} not loaded at start`);
  }
});

t.test('what is loaded late still works when first used', async (t) => {
  t.equal(out.docsStatus, 200);
  t.match(out.docsHtml, /swagger/i, '/docs/ serves swagger-ui');
  t.ok(out.specPaths > 20, `/docs/json lists the API (${out.specPaths} paths)`);
  t.ok(out.afterUse.includes('@fastify/swagger-ui'), 'swagger-ui loaded at the first visit');
  t.equal(out.xmlStatus, 200, out.xmlText);
  t.match(out.xmlText, /<virtualport type="802.1Qbg">/);
  t.ok(out.afterUse.includes('xmlbuilder2'), 'xmlbuilder2 loaded at the first XML');
  t.notOk(out.afterUse.includes('playwright-core'), 'playwright never');
});
