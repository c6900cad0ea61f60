// Type databases over HTTP, both directions:
// - typedbRoutes: this qbg serves its VSI types read-only as a type database for other qbg instances
//   (the contract is in src/vtdb/typedb-wire.ts: schemaVersion, strong ETag, 304 on If-None-Match);
// - remotesRoutes: the remote type databases this qbg reads, each answer saying whether it came from the remote
//   or the cache, how old it is and whether it is stale.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { fieldError } from '../domain/errors.js';
import type { RouteRole } from './auth.js';
import { localTypeWriter, type TypeService, type TypeWriter } from '../vtdb/type-service.js';
import type { RemoteRegistry } from '../vtdb/remote-registry.js';
import { etagMatches, toTypeEntry, TYPEDB_PREFIX, TYPEDB_SCHEMA_VERSION, typedbBody } from '../vtdb/typedb-wire.js';
import { VsiTypeVersionSchema } from './types-routes.js';

const NameParam = Type.String({ minLength: 1, maxLength: 64 });

const TypeEntrySchema = Type.Object(
  {
    name: Type.String(),
    description: Type.Optional(Type.String()),
    managerId: Type.Optional(Type.Integer({ minimum: 0, maximum: 255 })),
    managerId2: Type.String({ description: '32 hex digits' }),
    typeId: Type.Integer({ minimum: 0, maximum: 16777215 }),
    typeIdVersion: Type.Integer({ minimum: 0, maximum: 255 }),
    filterFormat: Type.String(),
    allowedVlans: Type.Array(Type.Union([Type.Integer(), Type.String()]), { description: 'e.g. [100, "200-210"]; empty = any' }),
    groupId: Type.Optional(Type.Integer()),
    createdAt: Type.String(),
  },
  { additionalProperties: true, description: 'profile-file fields of the current version + managerId2 + createdAt' },
);

export interface TypedbRoutesDeps {
  types: TypeService;
  /** Who may read this type database: 'monitor' (default; remotes then need a token when tokens are on) or 'public'. */
  role?: RouteRole;
}

function sendWithEtag(req: FastifyRequest, reply: FastifyReply, value: object) {
  const { body, etag } = typedbBody(value);
  reply.header('etag', etag).header('cache-control', 'no-cache');
  if (etagMatches(req.headers['if-none-match'], etag)) return reply.code(304).send();
  return reply.type('application/json').send(body);
}

export function typedbRoutes(deps: TypedbRoutesDeps): FastifyPluginAsync {
  const { types } = deps;
  const role = deps.role ?? 'monitor';
  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['type database (served)'];
    app.get(`${TYPEDB_PREFIX}/types`, {
      config: { role },
      schema: {
        tags,
        summary: `Type-DB interface v${TYPEDB_SCHEMA_VERSION}: every VSI type (current version). Strong ETag; If-None-Match → 304`,
        response: { 200: Type.Object({ schemaVersion: Type.Literal(TYPEDB_SCHEMA_VERSION), types: Type.Array(TypeEntrySchema) }) },
      },
      handler: async (req, reply) => sendWithEtag(req, reply, { types: types.list().map(toTypeEntry) }),
    });
    app.get(`${TYPEDB_PREFIX}/types/:name`, {
      config: { role },
      schema: {
        tags,
        summary: `Type-DB interface v${TYPEDB_SCHEMA_VERSION}: one VSI type (current version). Strong ETag; If-None-Match → 304`,
        params: Type.Object({ name: NameParam }),
        response: { 200: Type.Object({ schemaVersion: Type.Literal(TYPEDB_SCHEMA_VERSION), type: TypeEntrySchema }) },
      },
      handler: async (req, reply) => sendWithEtag(req, reply, { type: toTypeEntry(types.require(req.params.name)) }),
    });
  };
}

const AnswerMeta = {
  remote: Type.String(),
  source: Type.Enum(['remote', 'cache']),
  ageSeconds: Type.Integer({ description: 'seconds since the remote last confirmed this data' }),
  stale: Type.Boolean({ description: 'older than the TTL because the remote could not be asked' }),
  revalidated: Type.Boolean({ description: 'the remote answered 304: cached data confirmed' }),
  error: Type.Optional(Type.String({ description: 'why the remote could not be used' })),
};

export interface RemotesRoutesDeps {
  remotes: RemoteRegistry;
  /** Local type database, for copying a remote type into it. */
  types: TypeService;
  /** Where the copy is written (in a fleet: PostgreSQL first). */
  writer?: TypeWriter;
}

export function remotesRoutes(deps: RemotesRoutesDeps): FastifyPluginAsync {
  const { remotes, types } = deps;
  const writer = deps.writer ?? localTypeWriter(types);
  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['remote type databases'];
    const RemoteParams = Type.Object({ remote: NameParam });
    const RemoteTypeParams = Type.Object({ remote: NameParam, name: NameParam });

    app.get('/remotes', {
      config: { role: 'monitor' },
      schema: {
        tags,
        summary: 'Configured remote type databases',
        response: {
          200: Type.Object({ remotes: Type.Array(Type.Object({ name: Type.String(), url: Type.Optional(Type.String()), ttlSeconds: Type.Number() })) }),
        },
      },
      handler: async () => ({ remotes: remotes.list() }),
    });

    app.get('/remotes/:remote/types', {
      config: { role: 'monitor' },
      schema: {
        tags,
        summary: "A remote's VSI types (from the remote or, when it is down, the cache — the answer says which)",
        params: RemoteParams,
        response: { 200: Type.Object({ ...AnswerMeta, types: Type.Array(VsiTypeVersionSchema) }) },
      },
      handler: async (req) => {
        const { data, ...meta } = await remotes.get(req.params.remote).listTypes();
        return { ...meta, types: data };
      },
    });

    app.get('/remotes/:remote/types/:name', {
      config: { role: 'monitor' },
      schema: {
        tags,
        summary: "One of a remote's VSI types (from the remote or the cache — the answer says which)",
        params: RemoteTypeParams,
        response: { 200: Type.Object({ ...AnswerMeta, type: VsiTypeVersionSchema }) },
      },
      handler: async (req) => {
        const { data, ...meta } = await remotes.get(req.params.remote).getType(req.params.name);
        return { ...meta, type: data };
      },
    });

    app.post('/remotes/:remote/types/:name/import', {
      config: { role: 'admin' },
      schema: {
        tags,
        summary: "Copy a remote's VSI type into the local database (created, new version or unchanged; refused when stale)",
        params: RemoteTypeParams,
        querystring: Type.Object({ allowStale: Type.Optional(Type.Boolean({ description: 'accept a stale cached copy' })) }),
        response: {
          200: Type.Object({
            ...AnswerMeta,
            imported: Type.Object({ source: Type.String(), name: Type.String(), typeIdVersion: Type.Integer(), action: Type.String() }),
          }),
        },
      },
      handler: async (req) => {
        const { data, ...meta } = await remotes.get(req.params.remote).getType(req.params.name);
        if (meta.stale && !req.query.allowStale) {
          throw fieldError(
            'allowStale',
            'QBG_ERR_REMOTE_TYPEDB',
            req.params.remote,
            `only a stale cached copy (${meta.ageSeconds} s old) is available (${meta.error ?? 'remote unreachable'}); add ?allowStale=true to import it anyway`,
          );
        }
        const { createdAt, ...spec } = data;
        void createdAt;
        const [imported] = await writer.importSpecs([{ source: `remote ${req.params.remote}`, spec }]);
        return { ...meta, imported };
      },
    });
  };
}
