// No token reaches a log line. Two layers, because each catches what the other cannot: the request serializer logs
// the URL without its `?token=` (the SSE stream takes one, and a caller may put one on any URL before it is
// refused); and a last pass over every finished line blanks any `token=` left in free text (an error message or a
// plugin's line quoting a URL) and the value of every "authorization" field, at any depth (a logged request or
// headers object). That last pass replaced pino's `redact` option, which also ran on the bindings of the child logger
// fastify makes for every request (~5 µs per request, a few percent of a status read).
import type { FastifyRequest } from 'fastify';
import type { LoggerOptions } from 'pino';

export const REDACTED = '[redacted]';

// the value runs to the next &, #, blank or closing quote; a JSON-escaped character (\") is part of it
const TOKEN_IN_URL = /([?&]token=)(?:\\.|[^&#\s"\\])*/gi;

/** The URL (or any text) with the value of every `token=` query parameter replaced. */
export function redactTokens(text: string): string {
  return text.replace(TOKEN_IN_URL, `$1${REDACTED}`);
}

// a JSON string value: escaped characters (\" included) are part of it
const AUTHORIZATION_FIELD = /("authorization"\s*:\s*)"(?:\\.|[^"\\])*"/gi;

/** A finished log line with every `token=` value and every "authorization" field's value blanked. */
export function redactLine(line: string): string {
  return redactTokens(line).replace(AUTHORIZATION_FIELD, `$1"${REDACTED}"`);
}

/** pino options for qbg's loggers: the level and the redaction. */
export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    serializers: {
      // fastify's default request serializer, with the URL's token blanked (and no headers, as fastify's)
      req: (req: FastifyRequest) => ({
        method: req.method,
        url: typeof req.url === 'string' ? redactTokens(req.url) : undefined,
        host: req.host,
        remoteAddress: req.ip,
        remotePort: req.socket?.remotePort,
      }),
    },
    hooks: { streamWrite: redactLine },
  };
}
