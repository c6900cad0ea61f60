// Remote type databases: the pluggable port (RemoteTypeDb) and its implementation for qbg's own type-DB
// interface over HTTP (typedb-wire.ts). Another vendor's VSIDB would be one more class implementing RemoteTypeDb.
import { qbgError } from '../domain/errors.js';
import type { VsiTypeVersion } from '../domain/vsi-type.js';
import { fromTypeEntry, TYPEDB_PREFIX, TYPEDB_SCHEMA_VERSION } from './typedb-wire.js';

/** What a conditional fetch got: new data (with the validator to revalidate it later), or "yours is current". */
export type Fetched<T> = { status: 'ok'; value: T; etag?: string } | { status: 'not-modified' };

export interface RemoteTypeDb {
  readonly name: string;
  /** Where it lives, for humans (GET /remotes). */
  readonly url?: string;
  /** Current version of every type. Throws QBG_ERR_REMOTE_TYPEDB when the remote cannot answer. */
  listTypes(cond?: { etag?: string }): Promise<Fetched<VsiTypeVersion[]>>;
  /** One type; undefined when the remote says it has no such type. */
  getType(name: string, cond?: { etag?: string }): Promise<Fetched<VsiTypeVersion> | undefined>;
}

export interface HttpRemoteTypeDbOptions {
  name: string;
  /** Base URL of the remote qbg, e.g. http://10.0.0.5:8021 */
  url: string;
  /** Bearer token with at least the monitor role on the remote, when it requires tokens. */
  token?: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export class HttpRemoteTypeDb implements RemoteTypeDb {
  readonly name: string;
  readonly url: string;
  private readonly token?: string;
  private readonly timeoutMs: number;
  private readonly fetchFn: typeof fetch;

  constructor(opts: HttpRemoteTypeDbOptions) {
    this.name = opts.name;
    this.url = opts.url.replace(/\/+$/, '');
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.fetchFn = opts.fetch ?? fetch;
  }

  async listTypes(cond: { etag?: string } = {}): Promise<Fetched<VsiTypeVersion[]>> {
    const r = await this.request('/types', cond.etag);
    if (r.status === 'not-modified') return r;
    if (r.status === 'not-found') throw qbgError('QBG_ERR_REMOTE_TYPEDB', this.name, `${this.url}${TYPEDB_PREFIX}/types answered 404: not a qbg type database?`);
    const types = (r.body as { types?: unknown }).types;
    if (!Array.isArray(types)) throw qbgError('QBG_ERR_REMOTE_TYPEDB', this.name, 'answer has no "types" list');
    return { status: 'ok', value: types.map((e) => fromTypeEntry(e, this.name)), etag: r.etag };
  }

  async getType(name: string, cond: { etag?: string } = {}): Promise<Fetched<VsiTypeVersion> | undefined> {
    const r = await this.request(`/types/${encodeURIComponent(name)}`, cond.etag);
    if (r.status === 'not-found') return undefined;
    if (r.status === 'not-modified') return r;
    const type = fromTypeEntry((r.body as { type?: unknown }).type, this.name);
    if (type.name !== name) throw qbgError('QBG_ERR_REMOTE_TYPEDB', this.name, `asked for VSI type ${name}, answered ${type.name}`);
    return { status: 'ok', value: type, etag: r.etag };
  }

  private async request(
    path: string,
    etag: string | undefined,
  ): Promise<{ status: 'ok'; body: unknown; etag?: string } | { status: 'not-modified' } | { status: 'not-found' }> {
    const url = `${this.url}${TYPEDB_PREFIX}${path}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (etag) headers['if-none-match'] = etag;
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let res: Response;
    try {
      res = await this.fetchFn(url, { headers, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      const why = err.name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : (err.cause?.code ?? err.cause?.message ?? err.message);
      throw qbgError('QBG_ERR_REMOTE_TYPEDB', this.name, `unreachable at ${url}: ${why}`);
    }
    if (res.status === 304) return { status: 'not-modified' };
    const text = await res.text();
    if (res.status === 404) return { status: 'not-found' };
    if (!res.ok) throw qbgError('QBG_ERR_REMOTE_TYPEDB', this.name, `${url} answered HTTP ${res.status}: ${text.slice(0, 200)}`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw qbgError('QBG_ERR_REMOTE_TYPEDB', this.name, `${url} answered something that is not JSON`);
    }
    const sv = (body as { schemaVersion?: unknown } | null)?.schemaVersion;
    if (sv !== TYPEDB_SCHEMA_VERSION) {
      throw qbgError('QBG_ERR_REMOTE_TYPEDB', this.name, `${url} speaks schemaVersion ${JSON.stringify(sv)}, this qbg reads ${TYPEDB_SCHEMA_VERSION}`);
    }
    return { status: 'ok', body, etag: res.headers.get('etag') ?? undefined };
  }
}
