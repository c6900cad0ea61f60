// No token reaches a log line. Three layers, because each catches what the others cannot: pino's redact blanks the
// Authorization header wherever a logged object carries headers; the request serializer logs the URL without its
// `?token=` (the SSE stream takes one, and a caller may put one on any URL before it is refused); and a last pass
// over every finished line blanks any `token=` left in free text (an error message or a plugin's line quoting a URL).
import type { FastifyRequest } from 'fastify';
import type { LoggerOptions } from 'pino';

export const REDACTED = '[redacted]';

// the value runs to the next &, #, blank or closing quote; a JSON-escaped character (\") is part of it
const TOKEN_IN_URL = /([?&]token=)(?:\\.|[^&#\s"\\])*/gi;

/** The URL (or any text) with the value of every `token=` query parameter replaced. */
export function redactTokens(text: string): string {
  return text.replace(TOKEN_IN_URL, `$1${REDACTED}`);
}

/** pino options for qbg's loggers: the level and the redaction. */
export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: ['req.headers.authorization', 'headers.authorization', '*.headers.authorization'], censor: REDACTED },
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
    hooks: { streamWrite: redactTokens },
  };
}
