// fastify's own refusals (FST_* codes from its router and body parsers) and node's HTTP parser (431, 408, a
// malformed request) answer before any route runs, each in its own shape. This one table maps them onto the
// catalogue, so every answer qbg gives, even to a request no route saw, is {statusCode, code, error, field}.
import type { FastifyError } from 'fastify';
import { fieldError, type QbgError } from '../domain/errors.js';

/** A fastify error code → the catalogue error that says the same in qbg's words. */
const FASTIFY_CODES: Record<string, (e: FastifyError, limits: FrameworkLimits) => QbgError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: (_e, l) => fieldError('body', 'QBG_ERR_BODY_TOO_LARGE', l.bodyLimit),
  // secure-json-parse also refuses "__proto__" and "constructor.prototype" keys (prototype poisoning)
  FST_ERR_CTP_INVALID_JSON_BODY: () => fieldError('body', 'QBG_ERR_BODY_PARSE', 'it does not parse, or has a "__proto__" / "constructor.prototype" key'),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => fieldError('body', 'QBG_ERR_BODY_PARSE', 'it is empty but content-type is application/json'),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (_e, l) => fieldError('content-type', 'QBG_ERR_MEDIA_TYPE', JSON.stringify(l.contentType ?? '')),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => fieldError('content-length', 'QBG_ERR_BAD_REQUEST', 'content-length does not match the body received'),
  FST_ERR_BAD_URL: (e) => fieldError('url', 'QBG_ERR_URL', e.message),
  FST_ERR_MAX_PARAM_LENGTH: (e) => fieldError('url', 'QBG_ERR_URL_PARAM_LENGTH', e.message.match(/^'([^']*)'/)?.[1] ?? 'a path parameter', 100),
};

export interface FrameworkLimits {
  bodyLimit: number;
  /** the request's content-type header, named in a 415 */
  contentType?: string;
}

/** A fastify or plugin 4xx in the catalogue's words; undefined for anything else (an internal fault). */
export function fromFastifyError(err: FastifyError, limits: FrameworkLimits): QbgError | undefined {
  const map = err.code ? FASTIFY_CODES[err.code] : undefined;
  if (map) return map(err, limits);
  // a 4xx we have no entry for (another FST_* code, a plugin's own): keep its status, in the catalogue's shape
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
    const e = fieldError(err.code.startsWith('FST_ERR_CTP_') ? 'body' : 'request', 'QBG_ERR_BAD_REQUEST', err.message);
    (e as { statusCode: number }).statusCode = err.statusCode;
    return e;
  }
  return undefined;
}

/** No route for this method and URL (fastify's own 404 names no code and no field). */
export function routeNotFound(method: string, url: string): QbgError {
  // the path only: a query string may carry a token
  return fieldError('url', 'QBG_ERR_ROUTE_NOT_FOUND', method, url.split('?')[0]);
}

/**
 * What node's HTTP parser refused before fastify saw a request, as the raw HTTP answer to write on the socket.
 * undefined: nothing to answer (the client is gone).
 */
export function clientErrorResponse(err: NodeJS.ErrnoException, maxHeaderBytes: number): { status: number; body: string } | undefined {
  if (err.code === 'ECONNRESET') return undefined;
  const e =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? fieldError('headers', 'QBG_ERR_HEADERS_TOO_LARGE', maxHeaderBytes)
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? fieldError('request', 'QBG_ERR_REQUEST_TIMEOUT')
        : fieldError('request', 'QBG_ERR_HTTP_MALFORMED', err.code ?? err.message);
  return { status: e.statusCode, body: JSON.stringify(e.toJSON()) };
}
