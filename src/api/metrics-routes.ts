// GET /metrics (Prometheus text format, role monitor). The request-duration measurement of every route is fed by the
// server's request log (buildServer's observeRequest).
import type { FastifyPluginAsync } from 'fastify';
import type { QbgMetrics } from '../service/metrics.js';

export interface MetricsRouteDeps {
  metrics: QbgMetrics;
}

export function metricsRoutes(deps: MetricsRouteDeps): FastifyPluginAsync {
  return async (app) => {
    app.get('/metrics', { config: { role: 'monitor' }, schema: { hide: true } }, async (_req, reply) => {
      const { contentType, body } = await deps.metrics.exposition();
      return reply.type(contentType).send(body);
    });
  };
}
