// What every `qbg` subcommand gets: where to print, whether a program is reading (--json), and how to reach the
// running service. Subcommands talk to qbg over HTTP so the same roles and validation apply as for the API.
import { ERRORS, QbgError, qbgError, type ErrorCode } from '../domain/errors.js';

export interface CliIo {
  out(s: string): void;
  err(s: string): void;
  /** --json: print machine-readable JSON on stdout, nothing else. */
  json: boolean;
  /** Base URL of the running qbg, e.g. http://127.0.0.1:8021 (--url or QBG_URL). */
  baseUrl: string;
  /** Bearer token (--token or QBG_TOKEN). */
  token?: string;
  fetch: typeof fetch;
  /** Read all of stdin (rewrite reads a domain XML from it). */
  readStdin(): Promise<string>;
}

/** Thrown by a subcommand for a usage mistake; main prints it as one line and exits 2. */
export class UsageError extends Error {}

/**
 * Call the qbg API. A non-2xx answer becomes a QbgError carrying the server's code, field and message, so the
 * CLI prints exactly what the API said (one catalogue, one wording).
 */
export async function callApi<T = unknown>(
  io: CliIo,
  method: string,
  path: string,
  body?: unknown,
  opts: { contentType?: string; raw?: boolean } = {},
): Promise<T> {
  const headers: Record<string, string> = {};
  if (io.token) headers.authorization = `Bearer ${io.token}`;
  let payload: string | undefined;
  if (body !== undefined) {
    headers['content-type'] = opts.contentType ?? 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  let res: Response;
  try {
    res = await io.fetch(new URL(path, io.baseUrl), { method, headers, body: payload });
  } catch (e) {
    // not qbg's error (nothing answered): say where the CLI looked and why it failed, not "500 internal"
    throw qbgError('QBG_ERR_SERVICE_UNREACHABLE', io.baseUrl, fetchCause(e));
  }
  const text = await res.text();
  if (!res.ok) {
    let parsed: { code?: string; error?: string; message?: string; field?: string; details?: Record<string, unknown> } = {};
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON: not qbg's answer */
    }
    if (!(typeof parsed.code === 'string' && parsed.code.startsWith('QBG_ERR_'))) {
      // something else answers at that URL (another service, a proxy's error page)
      throw qbgError('QBG_ERR_SERVICE_UNREACHABLE', io.baseUrl, `HTTP ${res.status} that is not a qbg answer: ${text.slice(0, 120) || '(empty)'}`);
    }
    // a code this CLI does not know (a newer qbg): keep its words, with the code in front
    const known = Object.hasOwn(ERRORS, parsed.code);
    const message = parsed.error ?? parsed.message ?? `HTTP ${res.status}`;
    throw new QbgError(known ? (parsed.code as ErrorCode) : 'QBG_ERR_BAD_REQUEST', known ? message : `${parsed.code}: ${message}`, { field: parsed.field, details: parsed.details });
  }
  if (opts.raw) return text as T;
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Why fetch failed, in the system's words ("connect ECONNREFUSED 127.0.0.1:8021"), not undici's "fetch failed". */
function fetchCause(e: unknown): string {
  const cause = (e as { cause?: unknown }).cause as (Error & { code?: string; errors?: Error[] }) | undefined;
  if (!cause) return (e as Error).message;
  // connecting to "localhost" tries ::1 and 127.0.0.1: node reports both in an AggregateError with no message
  return cause.message || cause.errors?.map((x) => x.message).join('; ') || cause.code || String(cause);
}

export function printJsonOr(io: CliIo, value: unknown, human: () => string): void {
  io.out(io.json ? JSON.stringify(value, null, 2) : human());
}

/** A plain fixed-width table for humans. */
export function table(rows: Array<Record<string, unknown>>, columns: string[]): string {
  if (rows.length === 0) return '(none)';
  const cell = (v: unknown) => (v === undefined || v === null ? '-' : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n');
}

export { qbgError };
