// Serialised answers of read routes, valid for one value of a change sequence (NicRepo.changeSeq: it moves with
// every write to the NICs, in the writing transaction). Monitors poll the same few URLs; between two changes each
// answer is built once and then sent as the same bytes. All entries go when the sequence moves; size is bounded.
// Kept as Buffers, not strings: node writes a Buffer as it is, but joins a string body to the response head first —
// a new 47 KB string for every page of 100 NICs sent, most of the young-generation garbage of a polled page.
// 1 MiB holds ~20 pages of 100 NICs: a monitor polls a few URLs (2 MiB cost ~1 MB of resident memory, which the
// memory target, < 100 MB with 10,000 NICs, does not have to spare).
import { randomBytes } from 'node:crypto';

/** Per process: an ETag from before a restart never matches (a replaced database may reuse sequence numbers). */
const BOOT = randomBytes(4).toString('hex');

export function seqEtag(prefix: string, seq: number): string {
  return `"${prefix}-${BOOT}-${seq}"`;
}

export class SeqCache {
  private seq = -1;
  private readonly bodies = new Map<string, Buffer>();
  private bytes = 0;

  constructor(private readonly maxEntries = 64, private readonly maxBytes = 1024 * 1024) {}

  /** The answer cached for key at seq; a new seq empties the cache. */
  get(seq: number, key: string): Buffer | undefined {
    if (seq !== this.seq) {
      this.bodies.clear();
      this.bytes = 0;
      this.seq = seq;
      return undefined;
    }
    return this.bodies.get(key);
  }

  /** Keep body for key, read at seq (a body built while the sequence moved on is not kept). Oldest entries go first. */
  set(seq: number, key: string, body: Buffer): void {
    if (seq !== this.seq || body.length > this.maxBytes) return;
    for (const [k, b] of this.bodies) {
      if (this.bodies.size < this.maxEntries && this.bytes + body.length <= this.maxBytes) break;
      this.bodies.delete(k);
      this.bytes -= b.length;
    }
    this.bodies.set(key, body);
    this.bytes += body.length;
  }
}
