// qbg's type-DB interface, version 1 — what one qbg serves (src/api/typedb-routes.ts) and another reads
// (remote-client.ts). There is no open standard for VSI type databases (IBM's VSIDB and HPE's REST/XML are
// vendor-specific), so this is our own small, stable JSON contract:
//
//   GET /typedb/v1/types        → { "schemaVersion": 1, "types": [TypeEntry, …] }   current version of each type
//   GET /typedb/v1/types/:name  → { "schemaVersion": 1, "type": TypeEntry }          404 when unknown
//
//   TypeEntry = the profile-file fields { name, description?, managerId? | managerId2, typeId, typeIdVersion,
//               filterFormat, allowedVlans: [100, "200-210"], groupId? } + managerId2 always + createdAt (ISO).
//
// Every answer carries a strong ETag (sha256 of the body) and honours If-None-Match with 304. Additive changes keep
// schemaVersion 1; a reader refuses any other schemaVersion rather than guess.
import { createHash } from 'node:crypto';
import { qbgError } from '../domain/errors.js';
import { parseVsiTypeSpec, SPEC_FIELDS, specToProfile, type VsiTypeVersion } from '../domain/vsi-type.js';

export const TYPEDB_SCHEMA_VERSION = 1;
export const TYPEDB_PREFIX = '/typedb/v1';

export type TypeEntry = Record<string, unknown> & { name: string; createdAt: string };

export function toTypeEntry(v: VsiTypeVersion): TypeEntry {
  return { ...specToProfile(v), managerId2: v.managerId2, createdAt: v.createdAt } as unknown as TypeEntry;
}

/** Never trust a remote: every entry goes through the same validation as a profile file. */
export function fromTypeEntry(o: unknown, remote: string): VsiTypeVersion {
  if (typeof o !== 'object' || o === null) throw qbgError('QBG_ERR_REMOTE_TYPEDB', remote, 'answered a type entry that is not an object');
  const raw = o as Record<string, unknown>;
  const fields = Object.fromEntries(Object.entries(raw).filter(([k]) => (SPEC_FIELDS as readonly string[]).includes(k)));
  try {
    const spec = parseVsiTypeSpec(fields);
    return { ...spec, createdAt: typeof raw.createdAt === 'string' ? raw.createdAt : '' };
  } catch (e) {
    throw qbgError('QBG_ERR_REMOTE_TYPEDB', remote, `answered an invalid VSI type ${JSON.stringify(raw.name)}: ${(e as Error).message}`);
  }
}

/** The body text and its strong ETag: same data → same bytes → same ETag. */
export function typedbBody(value: object): { body: string; etag: string } {
  const body = JSON.stringify({ schemaVersion: TYPEDB_SCHEMA_VERSION, ...value });
  return { body, etag: `"${createHash('sha256').update(body).digest('base64url')}"` };
}

/** If-None-Match: a list of ETags or "*"; weak comparison is fine for GET (RFC 9110 13.1.2). */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  const bare = (s: string) => s.trim().replace(/^W\//, '');
  return ifNoneMatch.split(',').some((t) => bare(t) === etag);
}
