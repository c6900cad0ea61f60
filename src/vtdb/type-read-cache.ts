// VSI type versions as read from the store, kept between reads: generating XML looks up the same profile for
// every NIC, and a SQLite join plus JSON.parse per NIC was an eighth of the time. The cache is only trusted while
// the type tables' change stamp is the one seen when it was filled, so any write to them — this service's
// create/edit/delete/import, another repo or plain SQL on the same connection, another process on the same file —
// empties it; writes to other tables (every NIC transition) do not.
import type { VsiTypeVersion } from '../domain/vsi-type.js';
import type { TypeRepo } from '../store/type-repo.js';

/** Types are few; the bound only stops a caller looping over many (version) names from growing it without end. */
const MAX_ENTRIES = 1024;

/** A copy, so a caller changing what it got cannot change what the next caller gets. */
const copyOf = (v: VsiTypeVersion): VsiTypeVersion => ({ ...v, allowedVlans: v.allowedVlans.map((r) => ({ ...r })) });

export class TypeReadCache {
  private readonly entries = new Map<string, VsiTypeVersion>();
  private stamp = -1;

  constructor(private readonly repo: TypeRepo) {}

  /** The current version (typeIdVersion undefined) or the pinned one, from the cache when the store is unchanged. */
  get(name: string, typeIdVersion: number | undefined, read: () => VsiTypeVersion | undefined): VsiTypeVersion | undefined {
    if (this.repo.inTransaction) return read();
    const stamp = this.repo.changeStamp();
    if (stamp !== this.stamp) {
      this.entries.clear();
      this.stamp = stamp;
    }
    const key = typeIdVersion === undefined ? name : `${name}\u0000${typeIdVersion}`;
    let v = this.entries.get(key);
    if (v === undefined) {
      v = read();
      if (v === undefined) return undefined; // not cached: a name that does not exist may be created any moment
      if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
      this.entries.set(key, v);
    }
    return copyOf(v);
  }

  clear(): void {
    this.entries.clear();
    this.stamp = -1;
  }
}
