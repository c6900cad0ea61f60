// A running qbg for the browser tests: the real route plugins with real dependencies (SQLite store, type
// service, NIC service on our Vdp22Client talking to a lab's station lldpad, the transition bus, the uplink
// manager reading lldpad with lldptool), listening on 127.0.0.1:0 with an admin and a monitor token.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { buildServer } from '../../src/api/server.js';
import { typesRoutes } from '../../src/api/types-routes.js';
import { uplinksRoutesFor } from '../../src/api/uplinks-routes.js';
import { eventsRoutes } from '../../src/api/events-routes.js';
import { healthRoutes } from '../../src/api/health-routes.js';
import { uiRoutes } from '../../src/api/ui-routes.js';
import { openDatabase } from '../../src/store/db.js';
import { NicRepo } from '../../src/store/nic-repo.js';
import { TypeService } from '../../src/vtdb/type-service.js';
import { NicService } from '../../src/service/nic-service.js';
import { MigrationService } from '../../src/service/migration.js';
import { TransitionBus } from '../../src/service/transition-bus.js';
import { repoHistory } from '../../src/service/event-log.js';
import { MemoryUplinkConfigStore, UplinkManager } from '../../src/service/uplink-manager.js';
import type { VsiAssociator } from '../../src/domain/vsi-request.js';

export const TOKENS = { admin: 'ui-test-admin-token', monitor: 'ui-test-monitor-token' };

export interface QbgUnderTest {
  url: string;
  app: FastifyInstance;
  types: TypeService;
  nics: NicService;
  bus: TransitionBus;
  uplinks: UplinkManager;
  /** Whether the NIC API (src/api/nics-routes.ts) was there to register. */
  nicApi: boolean;
  close(): Promise<void>;
}

export interface FixtureOptions {
  associator: VsiAssociator;
  /** Uplink whose EVB state the page shows, in the lldpad of this namespace. */
  uplink: { name: string; netns: string };
  /** Desired EVB settings of that uplink (PUT /uplinks body); default: the defaults. */
  evb?: Record<string, unknown>;
}

const NICS_ROUTES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'api', 'nics-routes.ts');

/**
 * The NIC routes are written by another engineer at the same time as this test: register them when the file
 * exists (factory nicsRoutes({ nics, migration })). Loaded by
 * path, not imported, so this file type-checks and runs while that one is not committed yet.
 */
async function nicRoutesPlugin(deps: { nics: NicService; migration: MigrationService }): Promise<FastifyPluginAsync | undefined> {
  if (!existsSync(NICS_ROUTES)) return undefined;
  const mod = (await import(pathToFileURL(NICS_ROUTES).href)) as Record<string, unknown>;
  const factory = Object.entries(mod).find(([k, v]) => /^nics?Routes/.test(k) && typeof v === 'function')?.[1] as
    | ((d: unknown) => FastifyPluginAsync)
    | undefined;
  return factory?.(deps);
}

export async function startQbg(opts: FixtureOptions): Promise<QbgUnderTest> {
  const db = openDatabase(':memory:');
  const types = new TypeService(db);
  const repo = new NicRepo(db);
  const bus = new TransitionBus();
  const nics = new NicService({ repo, associator: opts.associator, types, bus, requestTimeoutMs: 10_000 });
  nics.start();
  const uplinks = new UplinkManager({ store: new MemoryUplinkConfigStore() });
  await uplinks.put(opts.uplink.name, { netns: opts.uplink.netns, ...opts.evb });

  const nicPlugin = await nicRoutesPlugin({ nics, migration: new MigrationService(nics) });
  const routes: FastifyPluginAsync[] = [
    healthRoutes({
      storeOk: () => db.prepare('SELECT 1 AS ok').get() !== undefined,
      lldpadPing: () => opts.associator.ping(),
      uplinks: async () => (await uplinks.listDesired()).map((u) => u.uplink),
      evbUp: async (name) => (await uplinks.status(name)).peerEvbSeen,
    }),
    eventsRoutes({ bus, history: repoHistory(repo), heartbeatMs: 5000 }),
    typesRoutes({ types }),
    uplinksRoutesFor(uplinks),
    uiRoutes(),
    ...(nicPlugin ? [nicPlugin] : []),
  ];
  const app = await buildServer({ tokens: { admin: [TOKENS.admin], hook: [], monitor: [TOKENS.monitor] }, logLevel: 'silent', routes });
  const url = (await app.listen({ host: '127.0.0.1', port: 0 })).replace('localhost', '127.0.0.1');
  return {
    url,
    app,
    types,
    nics,
    bus,
    uplinks,
    nicApi: nicPlugin !== undefined,
    async close() {
      await app.close();
      await nics.stop();
      db.close();
    },
  };
}
