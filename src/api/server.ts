// The HTTP service shell: fastify with typebox schemas (validate input, serialise output, document the API at
// /docs from one source), one error format from the catalogue, role checks, then the route groups.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync, type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsImport from 'ajv-formats';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { isQbgError, qbgError, QbgError } from '../domain/errors.js';
import { registerAuth, type TokenConfig } from './auth.js';
import { clientErrorResponse, fromFastifyError, routeNotFound } from './framework-errors.js';
import { maxHeaderSize } from 'node:http';
import type { Logger } from 'pino';
import { loggerOptions } from './log-redact.js';
import { lazyChildLogger } from './request-logger.js';
import { registerRateLimit, type RateLimitOptions } from './rate-limit.js';

export interface RegisteredRoute {
  method: string;
  url: string;
  role?: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route with the role it declared, in registration order. */
    registeredRoutes: RegisteredRoute[];
  }
}

export interface ServerOptions {
  tokens?: TokenConfig;
  logLevel?: string;
  /** The service's logger (its level wins over logLevel); else one is made from logLevel. */
  logger?: FastifyBaseLogger;
  bodyLimit?: number;
  /** Per-caller request rate (see rate-limit.ts); absent = no limit. */
  rateLimit?: RateLimitOptions;
  /** Route groups to register, each a fastify plugin with its own dependencies already bound. */
  routes: Array<FastifyPluginAsync>;
  /** Called as each request to a route completes (not for 404s): the request-duration metric. */
  observeRequest?: RequestObserver;
}

/** method, route pattern (/nics/:id), status code, seconds from the request's arrival to the answer's last byte */
export type RequestObserver = (method: string, route: string, statusCode: number, seconds: number) => void;

/** Map fastify/ajv validation errors onto our catalogue so API clients see one error shape. */
function validationToQbg(err: FastifyError): QbgError {
  const v = err.validation?.[0] as (NonNullable<FastifyError['validation']>[number] & { parentSchema?: unknown; data?: unknown }) | undefined;
  // "/allowedVlans/1" → "allowedVlans[1]": the same field names the domain validators use
  const path = v ? v.instancePath.split('/').filter(Boolean).reduce((acc, seg) => (/^\d+$/.test(seg) ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), '') : '';
  const missing = v?.keyword === 'required' ? String((v.params as { missingProperty?: string }).missingProperty) : undefined;
  const extra = v?.keyword === 'additionalProperties' ? String((v.params as { additionalProperty?: string }).additionalProperty) : undefined;
  const ctx = err.validationContext ?? 'body';
  const field = missing ? [path, missing].filter(Boolean).join('.') : extra ? [path, extra].filter(Boolean).join('.') : path || ctx;
  const code = missing ? 'QBG_ERR_FIELD_REQUIRED' : extra ? 'QBG_ERR_UNKNOWN_FIELD' : 'QBG_ERR_FIELD_TYPE';
  // With ajv's verbose option the failing schema and value are known: say the whole allowed range, not one bound.
  const schema = v?.parentSchema as { minimum?: number; maximum?: number; enum?: unknown[]; maxLength?: number } | undefined;
  const range =
    schema && schema.minimum !== undefined && schema.maximum !== undefined
      ? `must be ${schema.minimum}–${schema.maximum}, got ${JSON.stringify(v?.data)}`
      : schema?.enum
        ? `must be one of ${schema.enum.join(', ')}, got ${JSON.stringify(v?.data)}`
        : undefined;
  // "body vlan is required", but "body must be object", not "body body must be object"
  const where = field === ctx ? ctx : `${ctx} ${field}`;
  const message = missing ? `${where} is required` : extra ? `unknown field ${where}` : `${where} ${range ?? v?.message ?? err.message}`;
  return new QbgError(code, message, { field });
}

/**
 * A request's log level by its answer: 2xx/3xx info, and 404 (a hook asks for a NIC before it first associates it:
 * a lookup that finds nothing is the normal flow); a refusal (other 4xx), lldpad or the bridge refusing or not
 * answering (502, 503, 504) warn; qbg's own fault (500 and any other 5xx) error.
 */
export function levelForStatus(status: number): 'info' | 'warn' | 'error' {
  if (status < 400 || status === 404) return 'info';
  if (status < 500 || status === 502 || status === 503 || status === 504) return 'warn';
  return 'error';
}

/** Whether `log` writes lines at `level` (a logger that cannot say is taken to write): a line not written is not built. */
function writesAt(log: FastifyBaseLogger, level: string): boolean {
  return (log as Partial<Pick<Logger, 'isLevelEnabled'>>).isLevelEnabled?.(level) !== false;
}

/**
 * One line per request, at a level that says how it went (fastify logs two info lines per request, whatever the
 * answer, so a run full of refusals and timeouts reads like a good one). Also feeds the request-duration metric:
 * fastify calls this for every request that completes anyway, where an onResponse hook would add a hook run to each.
 */
class LevelledRequestLog extends LogController {
  constructor(private readonly observe?: RequestObserver) {
    super();
  }

  override incomingRequest(request: FastifyRequest): void {
    if (!this.isLogDisabled(request) && writesAt(request.log, 'debug')) request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const route = request.routeUrl;
    // 404s: unbounded URLs, not worth a series each
    if (this.observe && route !== undefined) this.observe(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    if (this.isLogDisabled(request)) return;
    const level = error ? 'error' : levelForStatus(reply.statusCode);
    if (!writesAt(reply.log, level)) return;
    reply.log[level]({ req: request, res: reply, responseTime: reply.elapsedTime, ...(error ? { err: error } : {}) }, 'request completed');
  }
}

/** SQLite refusing writes (disk full, read-only file or mount): the operator must act, a retry later may work. */
function storeUnwritable(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (code === 'SQLITE_FULL' || code.startsWith('SQLITE_READONLY'));
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

// ajv-formats is CommonJS: its default export arrives wrapped under NodeNext.
const addFormats = ((addFormatsImport as unknown as { default?: typeof addFormatsImport }).default ?? addFormatsImport) as unknown as (ajv: Ajv) => Ajv;

/** The validator fastify would build (ajv 8 + formats), with coercion chosen per request part. */
function makeAjv(coerceTypes: 'array' | false): Ajv {
  // verbose: the failing schema and value reach the error handler, which then names the whole allowed range
  const ajv = new Ajv({ coerceTypes, useDefaults: true, removeAdditional: false, allErrors: false, verbose: true, addUsedSchema: false });
  addFormats(ajv);
  return ajv;
}

/** Whether a schema can hold a number anywhere (a number or integer type, or a subschema that may be one). */
export function hasNumber(schema: unknown): boolean {
  if (typeof schema !== 'object' || schema === null) return false;
  const type = (schema as { type?: unknown }).type;
  if (type === 'number' || type === 'integer' || (Array.isArray(type) && (type.includes('number') || type.includes('integer')))) return true;
  return Object.values(schema).some((v) => (Array.isArray(v) ? v.some(hasNumber) : hasNumber(v)));
}

/**
 * ajv coerces "1e309" in a query string to Infinity and lets it through integer/maximum checks; refuse any
 * non-finite number among the coerced text parts as a type error on that field.
 */
function finiteOnly(validate: ValidateFunction): ValidateFunction {
  const wrapped = ((data: unknown) => {
    const ok = validate(data);
    wrapped.errors = validate.errors;
    if (!ok || typeof data !== 'object' || data === null) return ok;
    for (const [key, value] of Object.entries(data)) {
      if (typeof value === 'number' && !Number.isFinite(value)) {
        wrapped.errors = [{ instancePath: `/${key}`, schemaPath: '#/type', keyword: 'type', params: {}, message: 'must be a finite number' }];
        return false;
      }
    }
    return true;
  }) as ValidateFunction;
  return wrapped;
}

/**
 * /docs (swagger-ui: its static files, @fastify/static, glob, …) is loaded at the first visit, not at start: a
 * service that nobody browses should not carry it (docs/benchmarks.md, memory). It runs in a small fastify of its
 * own, reading this app's OpenAPI document, and answers through this app's routes.
 */
function registerDocsPage(app: FastifyInstance): void {
  let docs: Promise<FastifyInstance> | undefined;
  const load = (): Promise<FastifyInstance> =>
    (docs ??= (async () => {
      const { default: swaggerUi } = await import('@fastify/swagger-ui');
      const sub = Fastify({ logger: false });
      // swagger-ui declares @fastify/swagger as a dependency and reads the document from its decorator: give it this
      // app's (fastify-plugin's metadata, set by hand: skip encapsulation, satisfy the dependency check)
      const openapi = Object.assign(
        async (f: FastifyInstance) => {
          f.decorate('swagger', ((o?: never) => app.swagger(o)) as FastifyInstance['swagger']);
        },
        { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: '@fastify/swagger', [Symbol.for('plugin-meta')]: { name: '@fastify/swagger' } },
      );
      await sub.register(openapi);
      await sub.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } });
      await sub.ready();
      return sub;
    })());
  const hop = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'date']);
  const forward = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const r = await (await load()).inject({ method: req.method as 'GET', url: req.url, headers: req.headers });
    for (const [k, v] of Object.entries(r.headers)) if (!hop.has(k) && v !== undefined) reply.header(k, v);
    return reply.code(r.statusCode).send(r.rawPayload);
  };
  const opts = { config: { role: 'public' as const }, schema: { hide: true } };
  app.get('/docs', opts, forward);
  app.get('/docs/*', opts, forward);
}

export async function buildServer(opts: ServerOptions): Promise<FastifyInstance> {
  const bodyLimit = opts.bodyLimit ?? 1024 * 1024;
  // (fastify reports a completed request only to a server with a logger: a silent one when only the metric needs it)
  const noLogger = !opts.logger && opts.logLevel === 'silent' && !opts.observeRequest;
  const app = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: noLogger ? false : loggerOptions(opts.logLevel ?? 'info') }),
    logController: new LevelledRequestLog(opts.observeRequest),
    // without a logger fastify hands every request the null logger itself, unless the factory is its own
    ...(noLogger ? {} : { childLoggerFactory: lazyChildLogger }),
    bodyLimit,
    // the router answers bad percent-encoding (400) and path parameters over 100 characters (414) itself,
    // bypassing the error handler: give them the catalogue's shape too
    frameworkErrors: (err, _req, reply) => {
      const e = fromFastifyError(err, { bodyLimit }) ?? new QbgError('QBG_ERR_URL', err.message, { field: 'url' });
      // the reply here is typed for the router's generic route, not ours: send raw JSON
      const raw = reply as unknown as { status(code: number): { type(t: string): { send(body: string): unknown } } };
      raw.status(e.statusCode).type('application/json').send(JSON.stringify(e.toJSON()));
    },
    // node's HTTP parser refuses oversized headers (431), slow requests (408) and garbage before fastify sees a
    // request; fastify's default answer has its own shape
    clientErrorHandler(err, socket) {
      const answer = socket.destroyed ? undefined : clientErrorResponse(err as NodeJS.ErrnoException, maxHeaderSize);
      if (answer && socket.writable) {
        const reason = STATUS_TEXT[answer.status] ?? 'Bad Request';
        socket.write(`HTTP/1.1 ${answer.status} ${reason}\r\nContent-Length: ${Buffer.byteLength(answer.body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${answer.body}`);
      }
      socket.destroy(err);
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Query strings, path parameters and headers arrive as text and are coerced to the schema's types; JSON bodies are
  // not: `null`, `true` or "3" where a number belongs is a client error, not a 0, 1 or 3.
  const textParts = makeAjv('array');
  const jsonBody = makeAjv(false);
  // (a part without a number in its schema, like /nics/:id's params, needs no finiteness pass: it runs on every request)
  app.setValidatorCompiler(({ schema, httpPart }) =>
    httpPart === 'body' ? jsonBody.compile(schema) : hasNumber(schema) ? finiteOnly(textParts.compile(schema)) : textParts.compile(schema),
  );

  app.setErrorHandler((err: FastifyError | QbgError | Error, req, reply) => {
    let e: QbgError | undefined;
    if (isQbgError(err)) e = err;
    else if (storeUnwritable(err)) e = qbgError('QBG_ERR_STORE_READONLY', `${(err as { code: string }).code}: ${err.message}`);
    else if ((err as FastifyError).validation) e = validationToQbg(err as FastifyError);
    else e = fromFastifyError(err as FastifyError, { bodyLimit, contentType: req.headers['content-type'] });
    if (!e) {
      req.log.error({ err }, 'unexpected error');
      e = new QbgError('QBG_ERR_INTERNAL', err.message);
    }
    reply.status(e.statusCode).type('application/json').send(JSON.stringify(e.toJSON()));
  });
  app.setNotFoundHandler((req, reply) => {
    const e = routeNotFound(req.method, req.url);
    reply.status(e.statusCode).type('application/json').send(JSON.stringify(e.toJSON()));
  });

  // swagger-ui's own routes are documentation: public. Every route is recorded with its role so a test can prove
  // that none was forgotten.
  const routeRoles: RegisteredRoute[] = [];
  app.decorate('registeredRoutes', routeRoles);
  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/docs')) route.config = { ...(route.config ?? {}), role: 'public' };
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) routeRoles.push({ method, url: route.url, role: route.config?.role });
  });
  // before any route (the check is bound to each route as it is added), after the line above (it reads the roles)
  registerAuth(app, opts.tokens ?? { admin: [], hook: [], monitor: [] });
  await app.register(swagger, {
    openapi: {
      info: { title: 'qbg', description: 'IEEE 802.1Qbg (VEPA/VDP) management service', version: '0.1.0' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  registerDocsPage(app);
  // after the auth hook (so only known callers are counted) and before the routes it must cover
  if (opts.rateLimit) await registerRateLimit(app, opts.rateLimit);

  for (const plugin of opts.routes) await app.register(plugin);
  return app;
}
