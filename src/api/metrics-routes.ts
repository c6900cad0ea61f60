// GET /metrics (Prometheus text format, role monitor) and the HTTP request-duration measurement of every route.
import type { FastifyPluginAsync } from 'fastify';
import type { QbgMetrics } from '../service/metrics.js';

export interface MetricsRouteDeps {
  metrics: QbgMetrics;
}

export function metricsRoutes(deps: MetricsRouteDeps): FastifyPluginAsync {
  const plugin: FastifyPluginAsync = async (app) => {
    // Label by the route pattern (/nics/:id), never the raw URL: one series per route, not per NIC.
    // (a callback hook: it runs on every request, an async one adds a promise to each)
    app.addHook('onResponse', (req, reply, done) => {
      const route = req.routeOptions.url;
      // 404s: unbounded URLs, not worth a series each
      if (route !== undefined) deps.metrics.observeHttp(req.method, route, reply.statusCode, reply.elapsedTime / 1000);
      done();
    });

    app.get('/metrics', { config: { role: 'monitor' }, schema: { hide: true } }, async (_req, reply) => {
      const { contentType, body } = await deps.metrics.exposition();
      return reply.type(contentType).send(body);
    });
  };
  // Same effect as fastify-plugin: the onResponse hook must see every route group, not only this plugin's.
  (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
  return plugin;
}
