// One catalogue of every error qbg reports (after fastify's lib/errors.js): a stable code, an HTTP status and a
// message template. API, CLI and hooks all throw QbgError by code; tests assert codes, not wording.
// Templates use %s placeholders filled in order by the arguments given to qbgError().

export interface ErrorSpec {
  readonly status: number;
  readonly template: string;
}

export const ERRORS = {
  // --- input validation (ranges are named in every message: users find the id model confusing) ---
  QBG_ERR_FIELD_REQUIRED: { status: 400, template: '%s is required' },
  QBG_ERR_FIELD_TYPE: { status: 400, template: '%s must be %s, got %s' },
  QBG_ERR_MANAGER_ID_RANGE: { status: 400, template: 'managerId must be an integer 0–255, got %s' },
  QBG_ERR_MGRID2_FORMAT: {
    status: 400,
    template:
      'managerId2 must be 16 bytes: 32 hex digits, an IPv4/IPv6 address, a number 0–255 or ascii:TEXT (1–16 printable ASCII characters), got %s',
  },
  QBG_ERR_TYPEID_RANGE: { status: 400, template: 'typeId must be an integer 0–16777215 (24 bit), got %s' },
  QBG_ERR_TYPEID_VERSION_RANGE: { status: 400, template: 'typeIdVersion must be an integer 0–255, got %s' },
  QBG_ERR_VLAN_RANGE: { status: 400, template: '%s must be a VLAN id 0–4095, got %s' },
  QBG_ERR_VLAN_NOT_ALLOWED: { status: 400, template: 'vlan %s is not allowed by VSI type %s (allowed: %s)' },
  QBG_ERR_MAC_FORMAT: { status: 400, template: '%s must be a MAC address like 52:54:00:12:34:56, got %s' },
  QBG_ERR_UUID_FORMAT: { status: 400, template: '%s must be a UUID like 8c6f9e6e-2d0b-4a4e-9b3e-0e5f1f2a3b4c, got %s' },
  QBG_ERR_NAME_FORMAT: {
    status: 400,
    template: '%s must be 1–64 characters of letters, digits, ".", "_" or "-", starting with a letter or digit, got %s',
  },
  QBG_ERR_FILTER_FORMAT: { status: 400, template: 'filterFormat must be one of vlan-mac, vlan-mac-group, vlan, vlan-group, got %s' },
  QBG_ERR_ENUM: { status: 400, template: '%s must be one of %s, got %s' },
  QBG_ERR_UNKNOWN_FIELD: { status: 400, template: 'unknown field %s (allowed: %s)' },
  QBG_ERR_INTEGER_RANGE: { status: 400, template: '%s must be an integer %s–%s, got %s' },
  QBG_ERR_STRING_LENGTH: { status: 400, template: '%s must be at most %s characters, got %s' },
  QBG_ERR_BAD_REQUEST: { status: 400, template: '%s' },
  QBG_ERR_CONTROL_CHAR: {
    status: 400,
    template: '%s must not contain control characters (C0 such as NUL or ESC, DEL, C1, a lone surrogate): %s at index %s',
  },

  // --- HTTP: what fastify and node refuse before a route runs (mapped in src/api/framework-errors.ts) ---
  QBG_ERR_ROUTE_NOT_FOUND: { status: 404, template: 'no route %s %s (the API is listed at /docs)' },
  QBG_ERR_BODY_TOO_LARGE: { status: 413, template: 'request body exceeds the limit of %s bytes' },
  QBG_ERR_BODY_PARSE: { status: 400, template: 'body is not valid JSON: %s' },
  QBG_ERR_MEDIA_TYPE: { status: 415, template: 'content-type %s is not supported here (send application/json)' },
  QBG_ERR_URL: { status: 400, template: 'URL is malformed: %s' },
  QBG_ERR_URL_PARAM_LENGTH: { status: 414, template: 'path parameter %s is longer than %s characters' },
  QBG_ERR_HEADERS_TOO_LARGE: { status: 431, template: 'request headers exceed the limit of %s bytes' },
  QBG_ERR_REQUEST_TIMEOUT: { status: 408, template: 'the request was not received in time' },
  QBG_ERR_HTTP_MALFORMED: { status: 400, template: 'malformed HTTP request (%s)' },

  // --- VSI type database ---
  QBG_ERR_TYPE_NOT_FOUND: { status: 404, template: 'VSI type %s not found' },
  QBG_ERR_TYPE_VERSION_NOT_FOUND: { status: 404, template: 'VSI type %s has no version %s' },
  QBG_ERR_TYPE_EXISTS: { status: 409, template: 'VSI type %s already exists' },
  QBG_ERR_TYPE_VERSION_EXISTS: { status: 409, template: 'VSI type %s already has typeIdVersion %s%s' },
  QBG_ERR_TYPE_ID_TAKEN: {
    status: 409,
    template: 'typeId %s version %s (manager %s) is already used by VSI type %s',
  },
  QBG_ERR_TYPE_IN_USE: { status: 409, template: 'VSI type %s is used by %s NIC(s); disassociate them first' },
  QBG_ERR_TYPE_RACED: {
    status: 409,
    template: 'VSI type %s is at version %s but this change was based on version %s (another admin or host changed it meanwhile); read it again and retry',
  },
  QBG_ERR_PROFILE_FILE: { status: 400, template: '%s: %s' },
  QBG_ERR_REMOTE_TYPEDB: { status: 502, template: 'remote type database %s: %s' },
  QBG_ERR_REMOTE_NOT_CONFIGURED: { status: 404, template: 'no remote type database named %s (configured: %s)' },

  // --- libvirt XML ---
  QBG_ERR_XML_PARSE: { status: 400, template: 'XML is not well-formed: %s' },
  QBG_ERR_XML_LIMIT: { status: 413, template: 'XML %s exceeds the limit of %s' },
  QBG_ERR_XML_SHAPE: { status: 400, template: '%s' },
  QBG_ERR_XML_MERGE_CONFLICT: {
    status: 409,
    template: 'virtualport %s is %s in %s but %s in %s; libvirt refuses different values at two levels',
  },
  QBG_ERR_XML_NOT_EXPRESSIBLE: { status: 422, template: 'libvirt cannot express %s: %s' },
  QBG_ERR_XML_UNKNOWN_PROFILE: { status: 404, template: 'interface %s names qbg profile %s, which does not exist' },

  // --- lldpad ---
  QBG_ERR_LLDPAD_UNREACHABLE: { status: 503, template: 'lldpad is not reachable%s: %s' },
  QBG_ERR_LLDPAD_COMMAND: { status: 502, template: 'lldpad refused %s: %s' },
  QBG_ERR_UPLINK_NOT_FOUND: { status: 404, template: 'uplink %s is not configured' },
  QBG_ERR_UPLINK_EXISTS: { status: 409, template: 'uplink %s is already configured' },
  QBG_ERR_IFNAME_FORMAT: {
    status: 400,
    template: '%s must be a Linux interface name: 1–15 characters of letters, digits, ".", "_" or "-", got %s',
  },
  QBG_ERR_VDP_REJECTED: { status: 409, template: 'bridge rejected VSI %s: %s' },
  QBG_ERR_VDP_TIMEOUT: { status: 504, template: 'no answer for VSI %s within %s ms' },

  // --- NICs / associations ---
  QBG_ERR_NIC_NOT_FOUND: { status: 404, template: 'NIC %s not found' },
  QBG_ERR_ILLEGAL_TRANSITION: { status: 409, template: 'NIC %s cannot go from %s to %s (%s)' },
  QBG_ERR_NIC_FILTER_TAKEN: {
    status: 409,
    template: 'NIC %s (VM %s) already uses mac %s with vlan %s on uplink %s: a VEPA bridge cannot tell two VSIs with the same MAC and VLAN apart; disassociate and forget that NIC first',
  },
  QBG_ERR_NIC_OWNER: {
    status: 409,
    template: 'NIC %s is owned by %s on this host, not %s: %s',
  },
  QBG_ERR_NIC_HELD: {
    status: 409,
    template: 'NIC %s is %s: lldpad may hold its VSI, and forgetting it would leave that VSI orphaned; disassociate it first (or DELETE /nics/:id?disassociate=true, qbg nic delete --disassociate)',
  },

  // --- fleet (many hosts on one PostgreSQL) ---
  QBG_ERR_FLEET_OFF: { status: 404, template: 'this qbg is not part of a fleet: set fleet.postgres in the config (or QBG_FLEET_URL)' },
  QBG_ERR_FLEET_UNAVAILABLE: {
    status: 503,
    template: 'the fleet database (PostgreSQL) is unreachable: %s; VSI type changes and fleet queries need it, associations keep working',
  },
  QBG_ERR_FLEET: { status: 500, template: 'fleet database: %s' },

  // --- access ---
  QBG_ERR_UNAUTHORIZED: { status: 401, template: 'missing or unknown token: send Authorization: Bearer <token>' },
  QBG_ERR_FORBIDDEN: { status: 403, template: 'role %s may not %s (needs %s)' },
  QBG_ERR_TOKEN_IN_URL: {
    status: 400,
    template: 'a token in the URL is accepted only on GET /events (URLs end up in logs and histories): send Authorization: Bearer <token>',
  },
  QBG_ERR_RATE_LIMIT: { status: 429, template: 'too many requests from %s: at most %s per %s s (limits.rateBurst, limits.ratePerSecond); retry in %s s' },

  // --- store / config / generic ---
  QBG_ERR_STORE: { status: 500, template: 'database error: %s' },
  QBG_ERR_STORE_READONLY: { status: 503, template: 'database is read-only or full: %s' },
  QBG_ERR_CONFIG: { status: 500, template: 'configuration %s: %s' },
  QBG_ERR_NOT_FOUND: { status: 404, template: '%s not found' },
  QBG_ERR_INTERNAL: { status: 500, template: 'internal error: %s' },
  // the CLI's and hooks' side: no qbg answered at the URL they were given
  QBG_ERR_SERVICE_UNREACHABLE: { status: 503, template: 'cannot reach qbg at %s: %s' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** An error qbg means to report: carries its catalogue code, HTTP status and, when known, the offending field. */
export class QbgError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly field?: string;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, opts: { field?: string; details?: Record<string, unknown> } = {}) {
    super(message);
    this.name = 'QbgError';
    this.code = code;
    this.statusCode = ERRORS[code].status;
    this.field = opts.field;
    this.details = opts.details;
  }

  toJSON(): Record<string, unknown> {
    return {
      statusCode: this.statusCode,
      code: this.code,
      error: this.message,
      ...(this.field !== undefined ? { field: this.field } : {}),
      ...(this.details !== undefined ? { details: this.details } : {}),
    };
  }
}

// A control character in a value (a newline in a name read from a profile file, say) is shown escaped, in quotes:
// every message stays one line in logs and CLI output, and a value cannot forge a line of its own.
const CONTROL = /[\u0000-\u001f\u007f]/;

function render(template: string, args: readonly unknown[]): string {
  let i = 0;
  return template.replace(/%s/g, () => {
    const v = args[i++];
    if (typeof v === 'string') return CONTROL.test(v) ? JSON.stringify(v) : v;
    return JSON.stringify(v) ?? String(v);
  });
}

/** Build a QbgError from the catalogue: qbgError('QBG_ERR_TYPEID_RANGE', 42000000). */
export function qbgError(code: ErrorCode, ...args: unknown[]): QbgError {
  return new QbgError(code, render(ERRORS[code].template, args));
}

/** Same, and record which field of the input was at fault (shown by API and CLI). */
export function fieldError(field: string, code: ErrorCode, ...args: unknown[]): QbgError {
  return new QbgError(code, render(ERRORS[code].template, args), { field });
}

export function isQbgError(e: unknown): e is QbgError {
  return e instanceof QbgError;
}
