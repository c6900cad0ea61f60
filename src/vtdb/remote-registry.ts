// The remote type databases qbg is configured with (config `remotes`), each behind its cache, by name.
import type { Database } from 'better-sqlite3';
import { qbgError } from '../domain/errors.js';
import type { RemoteTypeDbConfig } from '../config.js';
import { HttpRemoteTypeDb, type RemoteTypeDb } from './remote-client.js';
import { CachedRemoteTypeDb } from './remote-cache.js';

export interface RemoteInfo {
  name: string;
  url?: string;
  ttlSeconds: number;
}

export interface RemoteRegistryOptions {
  fetch?: typeof fetch;
  timeoutMs?: number;
  /** Clock in ms (tests). */
  now?: () => number;
}

export class RemoteRegistry {
  private readonly remotes = new Map<string, CachedRemoteTypeDb>();

  /** `configs` may carry a `token` per remote (bearer token for a remote qbg that requires one). */
  constructor(
    private readonly db: Database,
    configs: ReadonlyArray<RemoteTypeDbConfig & { token?: string }> = [],
    private readonly opts: RemoteRegistryOptions = {},
  ) {
    for (const c of configs) {
      this.add(new HttpRemoteTypeDb({ name: c.name, url: c.url, token: c.token, fetch: opts.fetch, timeoutMs: opts.timeoutMs }), c.ttlSeconds ?? 60);
    }
  }

  /** Plug in any RemoteTypeDb implementation (another vendor's type database). */
  add(remote: RemoteTypeDb, ttlSeconds: number): CachedRemoteTypeDb {
    if (this.remotes.has(remote.name)) throw qbgError('QBG_ERR_CONFIG', 'remotes', `remote type database ${remote.name} is configured twice`);
    const cached = new CachedRemoteTypeDb(remote, this.db, ttlSeconds, { now: this.opts.now });
    this.remotes.set(remote.name, cached);
    return cached;
  }

  list(): RemoteInfo[] {
    return [...this.remotes.values()].map((r) => ({ name: r.name, url: r.remote.url, ttlSeconds: r.ttlSeconds }));
  }

  get(name: string): CachedRemoteTypeDb {
    const r = this.remotes.get(name);
    if (!r) throw qbgError('QBG_ERR_REMOTE_NOT_CONFIGURED', name, [...this.remotes.keys()].join(', ') || 'none');
    return r;
  }
}
