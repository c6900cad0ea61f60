// qbg's request-duration histogram must expose exactly what prom-client's Histogram would for the same observations:
// dashboards and alerts read the text.
import t from 'tap';
import { Histogram, Registry, type Metric } from 'prom-client';
import { RequestHistogram } from '../../src/service/request-histogram.js';

const BOUNDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

t.test('the same text and JSON as prom-client for the same observations (bounds, +Inf, several series)', async (t) => {
  const theirs = new Registry();
  const ours = new Registry();
  const reference = new Histogram({ name: 'qbg_http_request_duration_seconds', help: 'HTTP API request durations', labelNames: ['method', 'route', 'status_code'], buckets: BOUNDS, registers: [theirs] });
  const fast = new RequestHistogram<'method' | 'route' | 'status_code'>('qbg_http_request_duration_seconds', 'HTTP API request durations', BOUNDS);
  ours.registerMetric(fast as unknown as Metric);
  const calls: Array<[string, string, number, number]> = [
    ['GET', '/nics/:id', 200, 0.0004],
    ['GET', '/nics/:id', 200, 0.001], // on a bound: counted in that bucket
    ['GET', '/nics', 304, 0.0051],
    ['POST', '/nics/associate', 502, 12.5], // above every bound: only +Inf
    ['GET', '/nics/:id', 404, 0],
    ['GET', '/nics/:id', 200, 2.5],
    ['POST', '/nics/associate', 502, 0.3],
  ];
  for (const [method, route, status, seconds] of calls) {
    reference.observe({ method, route, status_code: String(status) }, seconds);
    fast.observe(`${method} ${status} ${route}`, () => ({ method, route, status_code: String(status) }), seconds);
  }
  const text = await ours.metrics();
  t.equal(text, await theirs.metrics(), 'text exposition');
  t.match(text, /qbg_http_request_duration_seconds_count\{method="GET",route="\/nics\/:id",status_code="200"\} 3/);
  const asJson = async (r: Registry) => JSON.parse(JSON.stringify(await r.getMetricsAsJSON())) as unknown;
  t.same(await asJson(ours), await asJson(theirs), 'JSON');
  fast.reset();
  reference.reset();
  t.equal(await ours.metrics(), await theirs.metrics(), 'after a reset');
});
