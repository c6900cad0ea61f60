// Finding the VSI type a piece of XML names. The XML code reads the type database only through VsiTypeLookup
// (never the store), so the same generation works for the service, the CLI and tests.
import { fieldError } from '../domain/errors.js';
import { parseName, parseTypeIdVersion } from '../domain/identifiers.js';
import type { VsiTypeLookup, VsiTypeVersion } from '../domain/vsi-type.js';

/** The type named `name` (current version unless one is pinned); errors name `field`. */
export function lookupProfile(types: VsiTypeLookup, name: unknown, version: unknown, field = 'profile', versionField = 'version'): VsiTypeVersion {
  const n = parseName(name, field);
  const v = version === undefined || version === null || version === '' ? undefined : parseTypeIdVersion(version, versionField);
  const t = types.get(n, v);
  if (!t) {
    if (v !== undefined && types.get(n)) throw fieldError(versionField, 'QBG_ERR_TYPE_VERSION_NOT_FOUND', n, v);
    throw fieldError(field, 'QBG_ERR_TYPE_NOT_FOUND', n);
  }
  return t;
}
