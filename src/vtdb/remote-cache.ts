// A remote type database seen through a cache (SQLite table remote_typedb_cache, migration 2): answers younger
// than the TTL come from the cache; older ones are revalidated with If-None-Match (304 = still current); when the
// remote cannot answer, the last known answer is served — and every answer SAYS where it came from, how old it is,
// whether it is stale and what went wrong, so an admin never mistakes a cached type for a confirmed one.
import type { Database, Statement } from 'better-sqlite3';
import { isQbgError, qbgError } from '../domain/errors.js';
import type { VsiTypeVersion } from '../domain/vsi-type.js';
import type { Fetched, RemoteTypeDb } from './remote-client.js';

export interface RemoteAnswerMeta {
  remote: string;
  /** 'remote': the remote answered (or confirmed with 304) just now; 'cache': served from the local cache. */
  source: 'remote' | 'cache';
  /** Seconds since the remote last confirmed this data. */
  ageSeconds: number;
  /** True when the data is older than the TTL because the remote could not be asked. */
  stale: boolean;
  /** The remote answered 304 Not Modified: cached data confirmed. */
  revalidated: boolean;
  /** Why the remote could not be used, when it could not. */
  error?: string;
}

export type RemoteAnswer<T> = RemoteAnswerMeta & { data: T };

interface CacheRow {
  etag: string | null;
  body: string;
  validated_at: number;
}

const LIST_KEY = 'types';
const typeKey = (name: string) => `type:${name}`;

export class CachedRemoteTypeDb {
  readonly name: string;
  private readonly st: Record<string, Statement>;
  private readonly now: () => number;

  constructor(
    readonly remote: RemoteTypeDb,
    db: Database,
    readonly ttlSeconds: number,
    opts: { now?: () => number } = {},
  ) {
    this.name = remote.name;
    this.now = opts.now ?? Date.now;
    this.st = {
      get: db.prepare('SELECT etag, body, validated_at FROM remote_typedb_cache WHERE remote = ? AND key = ?'),
      put: db.prepare(`INSERT INTO remote_typedb_cache (remote, key, etag, body, fetched_at, validated_at) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (remote, key) DO UPDATE SET etag = excluded.etag, body = excluded.body,
          fetched_at = excluded.fetched_at, validated_at = excluded.validated_at`),
      touch: db.prepare('UPDATE remote_typedb_cache SET validated_at = ? WHERE remote = ? AND key = ?'),
      drop: db.prepare('DELETE FROM remote_typedb_cache WHERE remote = ? AND key = ?'),
    };
  }

  listTypes(): Promise<RemoteAnswer<VsiTypeVersion[]>> {
    return this.answer(LIST_KEY, (etag) => this.remote.listTypes({ etag }), undefined);
  }

  /** One type; 404 when the remote says it has none. While the remote is down, the cached list serves too. */
  async getType(name: string): Promise<RemoteAnswer<VsiTypeVersion>> {
    const key = typeKey(name);
    const fromList = (): RemoteAnswer<VsiTypeVersion> | undefined => {
      const row = this.st.get.get(this.name, LIST_KEY) as CacheRow | undefined;
      const hit = row && (JSON.parse(row.body) as VsiTypeVersion[]).find((t) => t.name === name);
      return hit && { ...this.meta('cache', row.validated_at, true), data: hit };
    };
    return this.answer(
      key,
      async (etag) => {
        const r = await this.remote.getType(name, { etag });
        if (r) return r;
        this.st.drop.run(this.name, key);
        throw qbgError('QBG_ERR_TYPE_NOT_FOUND', `${name} (remote type database ${this.name})`);
      },
      fromList,
    );
  }

  private meta(source: 'remote' | 'cache', validatedAt: number, stale: boolean, extra: Partial<RemoteAnswerMeta> = {}): RemoteAnswerMeta {
    return {
      remote: this.name,
      source,
      ageSeconds: Math.max(0, Math.floor((this.now() - validatedAt) / 1000)),
      stale,
      revalidated: false,
      ...extra,
    };
  }

  private async answer<T>(
    key: string,
    fetchFn: (etag: string | undefined) => Promise<Fetched<T>>,
    fallback: (() => RemoteAnswer<T> | undefined) | undefined,
  ): Promise<RemoteAnswer<T>> {
    const row = this.st.get.get(this.name, key) as CacheRow | undefined;
    const now = this.now();
    if (row && this.ttlSeconds > 0 && now - row.validated_at < this.ttlSeconds * 1000) {
      return { ...this.meta('cache', row.validated_at, false), data: JSON.parse(row.body) as T };
    }
    let fetched: Fetched<T>;
    try {
      fetched = await fetchFn(row?.etag ?? undefined);
    } catch (e) {
      if (!isQbgError(e) || e.code !== 'QBG_ERR_REMOTE_TYPEDB') throw e;
      if (row) return { ...this.meta('cache', row.validated_at, true, { error: e.message }), data: JSON.parse(row.body) as T };
      const alt = fallback?.();
      if (alt) return { ...alt, error: e.message };
      throw e;
    }
    if (fetched.status === 'not-modified') {
      if (!row) throw qbgError('QBG_ERR_REMOTE_TYPEDB', this.name, 'answered 304 Not Modified to a request without If-None-Match');
      this.st.touch.run(now, this.name, key);
      return { ...this.meta('remote', now, false, { revalidated: true }), data: JSON.parse(row.body) as T };
    }
    this.st.put.run(this.name, key, fetched.etag ?? null, JSON.stringify(fetched.value), now, now);
    return { ...this.meta('remote', now, false), data: fetched.value };
  }
}
