// What every `qbg` subcommand gets: where to print, whether a program is reading (--json), and how to reach the
// running service. Subcommands talk to qbg over HTTP so the same roles and validation apply as for the API.
import { QbgError, qbgError, type ErrorCode } from '../domain/errors.js';

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
    throw new QbgError('QBG_ERR_INTERNAL', `cannot reach qbg at ${io.baseUrl} (${(e as Error).cause ?? (e as Error).message}); is "qbg serve" running?`);
  }
  const text = await res.text();
  if (!res.ok) {
    let parsed: { code?: string; error?: string; message?: string; field?: string } = {};
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON: use the text */
    }
    const code = (parsed.code && parsed.code.startsWith('QBG_ERR_') ? parsed.code : 'QBG_ERR_INTERNAL') as ErrorCode;
    throw new QbgError(code, parsed.error ?? parsed.message ?? (text || `HTTP ${res.status}`), { field: parsed.field });
  }
  if (opts.raw) return text as T;
  return (text ? JSON.parse(text) : undefined) as T;
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
