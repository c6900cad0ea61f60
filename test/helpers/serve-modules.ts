// Child of test/unit/serve-lazy.test.ts: starts the service (as `qbg serve` does, with no fleet), lists the packages
// loaded, then visits /docs and generates an interface XML, and lists them again. Prints one JSON line.
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createService } from '../../src/service/app.js';
import { defaultConfig } from '../../src/config.js';
import type { VsiAssociator } from '../../src/domain/vsi-request.js';

const require = createRequire(import.meta.url);
const packages = (): string[] => [...new Set(Object.keys(require.cache).map((k) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(k)?.[1]).filter((p): p is string => !!p))].sort();

const dir = mkdtempSync(join(tmpdir(), 'qbg-lazy-'));
const idle: VsiAssociator = {
  request: async () => ({ kind: 'transport-error', message: 'not in this test' }),
  query: async () => undefined,
  onEvent: () => () => undefined,
  ping: async () => ({ ok: true, pid: 1 }),
  close: async () => undefined,
};
const svc = await createService({ ...defaultConfig(), dbPath: join(dir, 'qbg.db'), listen: { host: '127.0.0.1', port: 0 }, logLevel: 'silent' }, { associator: idle });
const [url] = await svc.start();
const atStart = packages();
const docs = await fetch(`${url}/docs/`);
const docsHtml = await docs.text();
const spec = (await (await fetch(`${url}/docs/json`)).json()) as { paths: Record<string, unknown> };
svc.types.create({ name: 'web', managerId: 16, typeId: 1193047, typeIdVersion: 2 });
const xml = await fetch(`${url}/xml/interface`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ profile: 'web', uplink: 'eth0', mac: '52:54:00:12:34:56', vmUuid: '8c6f9e6e-2d0b-4a4e-9b3e-0e5f1f2a3b4c' }),
});
const xmlText = await xml.text();
const afterUse = packages();
await svc.stop();
rmSync(dir, { recursive: true, force: true });
process.stdout.write(JSON.stringify({ atStart, afterUse, docsStatus: docs.status, docsHtml: docsHtml.slice(0, 400), specPaths: Object.keys(spec.paths).length, xmlStatus: xml.status, xmlText }) + '\n');
