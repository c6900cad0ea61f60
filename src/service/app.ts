// The composition root: builds every part of qbg from the configuration and wires them together.
// Nothing else in qbg constructs adapters; tests build the same service with a config of their own.
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { qbgError } from '../domain/errors.js';
import { dirname } from 'node:path';
import type { QbgConfig } from '../config.js';
import { buildServer } from '../api/server.js';
import { openDatabase, type Database } from '../store/db.js';
import { SqliteUplinkConfigStore } from '../store/uplink-repo.js';
import { TypeService, localTypeWriter } from '../vtdb/type-service.js';
import type { Fleet } from '../fleet/fleet.js';
import { fleetRoutes } from '../api/fleet-routes.js';
import { RemoteRegistry } from '../vtdb/remote-registry.js';
import { typesRoutes } from '../api/types-routes.js';
import { typedbRoutes, remotesRoutes } from '../api/typedb-routes.js';
import { xmlRoutes } from '../api/xml-routes.js';
import { explainRoutes } from '../api/explain-routes.js';
import { uplinksRoutesFor } from '../api/uplinks-routes.js';
import { healthRoutes } from '../api/health-routes.js';
import { metricsRoutes } from '../api/metrics-routes.js';
import { eventsRoutes } from '../api/events-routes.js';
import { UplinkManager } from './uplink-manager.js';
import { UplinkDriftWatcher, type DriftCheck } from './uplink-drift.js';
import { TransitionBus } from './transition-bus.js';
import { createMetrics, instrumentAssociator, nicCountsFromDb, type QbgMetrics } from './metrics.js';
import { repoHistory } from './event-log.js';
import { NicRepo } from '../store/nic-repo.js';
import { WalSync } from '../store/wal-sync.js';
import { NicService } from './nic-service.js';
import { Reconciler } from './reconciler.js';
import { GuestLinks, type GuestLinkUp } from '../netdev/guest-links.js';
import { MigrationArrival } from './migration-arrival.js';
import { MigrationService } from './migration.js';
import { nicsRoutes } from '../api/nics-routes.js';
import { uiRoutes } from '../api/ui-routes.js';
import { addressesOf, checkListenAccess, listenUrl, tokensConfigured } from './listen-access.js';
import { WebhookDispatcher, parseWebhookTargets } from './webhooks.js';
import { Vdp22Client } from '../lldpad/vdp22-client.js';
import { NetlinkPortProfile, readLldpadPidFile } from '../lldpad/netlink-port.js';
import { parseUplinkConfig } from '../domain/evb-config.js';
import type { VsiAssociator } from '../domain/vsi-request.js';
import type { DestinationStream } from 'pino';
import { createLogger, logBusEvents } from './logging.js';

export interface QbgService {
  app: FastifyInstance;
  db: Database;
  types: TypeService;
  uplinks: UplinkManager;
  associator: VsiAssociator;
  nics: NicService;
  reconciler: Reconciler;
  bus: TransitionBus;
  metrics: QbgMetrics;
  /** Present when a fleet is configured (config.fleet): PostgreSQL shared by many hosts. */
  fleet?: Fleet;
  /** Start background work (reconciler, drift checks) and listen; resolves with every address really bound. */
  start(): Promise<string[]>;
  /** Said at start when access is wider than it should be (listen.insecureNoAuth); also logged at warn. */
  warnings: string[];
  /** Graceful stop: stop accepting, finish or record in-flight work, close lldpad clients and the store. */
  stop(): Promise<void>;
}

export interface ServiceOverrides {
  /** Use this instead of building the lldpad transport from the config (e.g. a client already in a lab). */
  associator?: VsiAssociator;
  /** Where the pino JSON log lines go (default stdout). */
  logDestination?: DestinationStream;
}

function createAssociator(config: QbgConfig): VsiAssociator {
  if (config.lldpad.transport === 'netlink') {
    return new NetlinkPortProfile({ lldpadPid: () => readLldpadPidFile(config.lldpad.pidFile) });
  }
  // The client socket helper is started lazily by the client; watch lldpad so a restart is noticed between commands.
  return new Vdp22Client({ netns: config.lldpad.netns, watchIntervalMs: 1000, maxInFlight: config.lldpad.maxInFlight });
}

/**
 * The same application on a unix socket beside the TCP listener: hooks and admins on the host reach qbg without any
 * port, and file permissions (root only, 0600) decide who may. A stale socket of a previous run is replaced.
 */
async function listenOnUnixSocket(app: FastifyInstance, path: string): Promise<Server> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  if (existsSync(path)) {
    // Only a stale socket (nobody answering) may be replaced: never take the socket of a running qbg.
    const alive = await new Promise<boolean>((resolve) => {
      const probe = connect(path, () => (probe.destroy(), resolve(true)));
      probe.on('error', () => resolve(false));
    });
    if (alive) throw qbgError('QBG_ERR_CONFIG', 'listen.socket', `${path} is in use by another process (another qbg?); set listen.socket / QBG_SOCKET to another path, or "" for none`);
    rmSync(path, { force: true });
  }
  const server = createServer((req, res) => app.routing(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o600);
  return server;
}

export async function createService(config: QbgConfig, overrides: ServiceOverrides = {}): Promise<QbgService> {
  // refuse an open admin on the network before anything is opened
  const access = checkListenAccess(config, await addressesOf(config.listen.host));
  const log = createLogger(config.logLevel, overrides.logDestination);
  const db = openDatabase(config.dbPath);
  const bus = new TransitionBus();
  const stopLoggingBus = logBusEvents(bus, log);
  const metrics = createMetrics({ nicCountsByState: nicCountsFromDb(db) });
  metrics.attach(bus);

  const types = new TypeService(db);
  const remotes = new RemoteRegistry(db, config.remotes);

  const uplinkStore = new SqliteUplinkConfigStore(db);
  // Uplinks declared in the config file are desired state too: they (re)seed the store at every start.
  for (const u of config.uplinks) uplinkStore.put(parseUplinkConfig(u));
  const uplinks = new UplinkManager({ store: uplinkStore, log: log.child({ component: 'uplinks' }) });
  const drift = new UplinkDriftWatcher({ manager: uplinks, intervalMs: config.reconcile.intervalSeconds * 1000, log: log.child({ component: 'uplinks' }) });

  const associator = instrumentAssociator(overrides.associator ?? createAssociator(config), metrics);

  // with a fleet, every NIC change is also queued for PostgreSQL in its own transaction (src/fleet/nic-publisher.ts)
  // the WAL goes to disk in the background between commits, so the checkpoint inside some request's COMMIT is short
  const walSync = new WalSync(config.dbPath);
  const nicRepo = new NicRepo(db, { outbox: config.fleet !== undefined, committed: () => walSync.committed() });
  // A VSI type still announced for some NIC must not vanish under it.
  const countNicsOfType = db.prepare('SELECT count(*) AS n FROM nics WHERE type_name = ?');
  types.setUsageCheck((name) => (countNicsOfType.get(name) as { n: number }).n);
  const nics = new NicService({ repo: nicRepo, associator, types, bus, log: log.child({ component: 'nics' }), filterChangeHoldMs: config.nics.filterChangeHoldSeconds * 1000 });
  const reconciler = new Reconciler({
    service: nics,
    associator,
    bus,
    metrics,
    concurrency: config.reconcile.concurrency,
    log: log.child({ component: 'reconciler' }),
    sweepIntervalMs: config.reconcile.intervalSeconds * 1000,
    maxAttempts: config.reconcile.maxAttempts,
    backoffBaseMs: config.reconcile.backoffBaseSeconds * 1000,
    backoffMaxMs: config.reconcile.backoffMaxSeconds * 1000,
  });
  const migration = new MigrationService(nics);
  const arrival = new MigrationArrival({ nics, migration, log: log.child({ component: 'migration' }) });
  let guestLinks: GuestLinks | undefined;
  // A bridge that comes back (its EVB TLV seen again on an uplink) gets the uplink's NICs re-associated at once
  // instead of waiting for their backoff.
  const peerSeen = new Map<string, boolean>();
  drift.on('check', (c: DriftCheck) => {
    const before = peerSeen.get(c.uplink);
    peerSeen.set(c.uplink, c.peerEvbSeen);
    if (before === false && c.peerEvbSeen) void reconciler.bridgeBack(c.uplink).catch(() => undefined);
  });

  // A restarted lldpad may also have forgotten the EVB configuration (a fresh config file): repair the uplinks
  // now rather than at the next drift check, or re-associations fail until then.
  bus.subscribe((e) => {
    if (e.kind === 'lldpad-restarted' || e.kind === 'lldpad-reachable') {
      void drift.checkNow().catch(() => undefined);
    }
  });

  // the fleet (and the PostgreSQL client with it) is loaded only when configured
  const fleet = config.fleet ? new (await import('../fleet/fleet.js')).Fleet({ config: config.fleet, db, nicRepo, types, bus, metrics, log: log.child({ component: 'fleet' }) }) : undefined;
  if (fleet) bus.subscribe((e) => e.kind === 'nic-transition' && fleet.wake());
  // type changes go to the fleet's PostgreSQL first when there is one, else straight to SQLite
  const typeWriter = fleet?.writer ?? localTypeWriter(types);

  const webhooks = new WebhookDispatcher(parseWebhookTargets(config.webhooks), { metrics, log: log.child({ component: 'webhooks' }) });
  const detachWebhooks = webhooks.attach(bus);

  const routes: FastifyPluginAsync[] = [
    metricsRoutes({ metrics }),
    healthRoutes({
      storeOk: () => db.prepare('SELECT 1 AS ok').get() !== undefined,
      lldpadPing: () => associator.ping(),
      uplinks: async () => (await uplinks.listDesired()).map((u) => u.uplink),
      evbUp: async (name) => (await uplinks.status(name)).peerEvbSeen,
      ownership: config.ownership,
    }),
    eventsRoutes({ bus, history: repoHistory(nicRepo), metrics }),
    typesRoutes({ types, writer: typeWriter }),
    typedbRoutes({ types }),
    remotesRoutes({ remotes, types, writer: typeWriter }),
    fleetRoutes({ fleet }),
    xmlRoutes({ types, ownership: config.ownership }),
    explainRoutes({ types, uplinks, lldpadPing: () => associator.ping(), ownership: config.ownership, ...(config.lldpad.netns !== undefined ? { lldpadNetns: config.lldpad.netns } : {}) }),
    uplinksRoutesFor(uplinks),
    nicsRoutes({ nics, migration, reconciler }),
    uiRoutes(),
  ];

  // The rate limit is per bearer token, or per address without one. In the open loopback mode (no tokens, only the
  // host's own admin can call) there is nobody to tell apart, so it is off; a lab open to the network has it.
  const limited = config.limits.ratePerSecond > 0 && (tokensConfigured(config) || access.warning !== undefined);

  const app = await buildServer({
    tokens: config.tokens,
    logger: log,
    bodyLimit: config.limits.bodyBytes,
    rateLimit: limited ? { perSecond: config.limits.ratePerSecond, burst: config.limits.rateBurst } : undefined,
    routes,
    // labelled by the route pattern (/nics/:id), never the raw URL: one series per route, not per NIC
    observeRequest: (method, route, status, seconds) => metrics.observeHttp(method, route, status, seconds),
  });
  const warnings = access.warning ? [access.warning] : [];

  let socketServer: Server | undefined;
  return {
    app,
    db,
    types,
    uplinks,
    associator,
    nics,
    reconciler,
    bus,
    metrics,
    ...(fleet ? { fleet } : {}),
    warnings,
    async start() {
      await app.listen({ host: config.listen.host, port: config.listen.port });
      // what was really bound, every address of it (a name can stand for several); checked again, the resolver
      // may have answered differently for the listen
      const bound = app.addresses().filter((a): a is AddressInfo => typeof a !== 'string');
      try {
        checkListenAccess(config, bound.map((a) => a.address));
      } catch (e) {
        await app.close();
        throw e;
      }
      for (const w of warnings) app.log.warn(w);
      const addresses = bound.map(listenUrl);
      if (config.listen.socket) {
        try {
          socketServer = await listenOnUnixSocket(app, config.listen.socket);
        } catch (e) {
          await app.close(); // do not keep serving TCP half-started
          throw e;
        }
        addresses.push(`unix:${config.listen.socket}`);
      }
      nics.start();
      // macvtap devices live where lldpad runs: watched only when qbg runs there too (no lldpad.netns)
      if (config.lldpad.netns === undefined && process.platform === 'linux') {
        try {
          const links = new GuestLinks();
          links.on('up', (l: GuestLinkUp) => void arrival.guestLinkUp(l).catch((err: unknown) => app.log.warn({ err, link: l }, 'migration arrival failed')));
          links.on('socket-error', (err: unknown) => app.log.warn({ err }, 'link watch: netlink error'));
          guestLinks = links;
        } catch (err) {
          app.log.warn({ err }, 'link watch unavailable: an incoming migration stays pre-associated until POST /migrations/<vm>/start');
        }
      }
      fleet?.start();
      drift.start();
      // lldpad keeps VSIs in memory only: the first sweep re-associates what qbg says should be associated.
      void reconciler.start().catch((err: unknown) => app.log.warn({ err }, 'reconciler start failed'));
      // Configured uplinks are applied at start: lldpad may have restarted while qbg was down.
      void drift.checkNow().catch((err: unknown) => app.log.warn({ err }, 'initial uplink check failed'));
      return addresses;
    },
    async stop() {
      drift.stop();
      guestLinks?.close();
      guestLinks = undefined;
      if (socketServer) await new Promise<void>((r) => socketServer!.close(() => r()));
      await app.close();
      await reconciler.stop();
      // in-flight associations end on lldpad's answer or their timeout, and are persisted either way
      await nics.stop();
      await fleet?.stop();
      detachWebhooks();
      stopLoggingBus();
      await webhooks.close();
      await associator.close();
      await walSync.close();
      db.close();
    },
  };
}
