// A running qbg for the browser tests: the real route plugins with real dependencies (SQLite store, type
// service, NIC service on our Vdp22Client talking to a lab's station lldpad, the transition bus, the uplink
// manager reading lldpad with lldptool), listening on 127.0.0.1:0 with an admin and a monitor token.
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { buildServer } from '../../src/api/server.js';
import { typesRoutes } from '../../src/api/types-routes.js';
import { uplinksRoutesFor } from '../../src/api/uplinks-routes.js';
import { eventsRoutes } from '../../src/api/events-routes.js';
import { healthRoutes } from '../../src/api/health-routes.js';
import { uiRoutes } from '../../src/api/ui-routes.js';
import { nicsRoutes } from '../../src/api/nics-routes.js';
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
  close(): Promise<void>;
}

export interface FixtureOptions {
  associator: VsiAssociator;
  /** Uplink whose EVB state the page shows, in the lldpad of this namespace. */
  uplink: { name: string; netns: string };
  /** Desired EVB settings of that uplink (PUT /uplinks body); default: the defaults. */
  evb?: Record<string, unknown>;
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
    nicsRoutes({ nics, migration: new MigrationService(nics) }),
    uiRoutes(),
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
    async close() {
      await app.close();
      await nics.stop();
      db.close();
    },
  };
}
