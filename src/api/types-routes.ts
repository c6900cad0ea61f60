// REST API of the local VSI type database. Schemas say the shape and the ranges (and document them at /docs);
// parseVsiTypeSpec in the service stays the one authority on meaning (canonical ids, VLAN ranges, managerId2).
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type TSchema } from 'typebox';
import { FILTER_FORMATS } from '../domain/vsi-type.js';
import { GROUP_ID_MAX, GROUP_ID_MIN, MANAGER_ID_MAX, TYPE_ID_MAX, TYPE_ID_VERSION_MAX, VLAN_MAX } from '../domain/identifiers.js';
import { localTypeWriter, type TypeService, type TypeWriter } from '../vtdb/type-service.js';
import { parseProfileSources } from '../vtdb/profile-files.js';

const Vlan = Type.Integer({ minimum: 0, maximum: VLAN_MAX, description: 'VLAN id 0–4095' });

/** Input fields of a VSI type (API body, same names as profile files). */
export const SpecFields = {
  name: Type.String({ minLength: 1, maxLength: 64, description: 'stable name: 1–64 of letters, digits, ".", "_", "-"' }),
  description: Type.String({ maxLength: 500 }),
  managerId: Type.Integer({ minimum: 0, maximum: MANAGER_ID_MAX, description: "libvirt's one-byte managerid 0–255" }),
  managerId2: Type.String({
    minLength: 1,
    maxLength: 45,
    description: 'VDP22 16-byte manager id: 32 hex digits, an IPv4/IPv6 address, a number 0–255 or ascii:TEXT (1–16 printable ASCII characters)',
  }),
  typeId: Type.Integer({ minimum: 0, maximum: TYPE_ID_MAX, description: 'VSI type id, 24 bit: 0–16777215' }),
  typeIdVersion: Type.Integer({ minimum: 0, maximum: TYPE_ID_VERSION_MAX, description: 'VSI type version 0–255' }),
  filterFormat: Type.Enum([...FILTER_FORMATS]),
  allowedVlans: Type.Array(
    Type.Union([
      Vlan,
      Type.String({ maxLength: 20, description: 'a range "100-110"' }),
      Type.Object({ from: Vlan, to: Vlan }, { additionalProperties: false }),
    ]),
    { maxItems: 4096, description: 'VLANs a NIC of this type may use; empty = any' },
  ),
  groupId: Type.Integer({
    minimum: GROUP_ID_MIN,
    maximum: GROUP_ID_MAX,
    description: 'VDP22 group id 1–4294967295, only with filterFormat vlan-group or vlan-mac-group',
  }),
};

const { name, typeId, typeIdVersion, ...optionalFields } = SpecFields;
const optional = <T extends Record<string, TSchema>>(o: T) =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Type.Optional(v)])) as { [K in keyof T]: ReturnType<typeof Type.Optional<T[K]>> };

export const CreateTypeBody = Type.Object({ name, typeId, typeIdVersion, ...optional(optionalFields) }, { additionalProperties: false });

export const EditTypeBody = Type.Object(optional(SpecFields), {
  additionalProperties: false,
  description: 'fields to change; others keep their value. Changed parameters make a new version (typeIdVersion: given, else the next free)',
});

export const VsiTypeVersionSchema = Type.Object({
  name: Type.String(),
  description: Type.String(),
  managerId: Type.Optional(Type.Integer()),
  managerId2: Type.String({ description: '32 hex digits' }),
  typeId: Type.Integer(),
  typeIdVersion: Type.Integer(),
  filterFormat: Type.String(),
  allowedVlans: Type.Array(Type.Object({ from: Type.Integer(), to: Type.Integer() })),
  groupId: Type.Optional(Type.Integer()),
  createdAt: Type.String(),
});

const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }) });
const VersionParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }), v: SpecFields.typeIdVersion });

export const ImportBody = Type.Object(
  {
    files: Type.Array(
      Type.Object(
        { file: Type.String({ minLength: 1, maxLength: 4096 }), content: Type.String({ maxLength: 64 * 1024 }) },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 1000 },
    ),
  },
  { additionalProperties: false },
);

const ImportOutcomeSchema = Type.Object({
  source: Type.String(),
  name: Type.String(),
  typeIdVersion: Type.Integer(),
  action: Type.Enum(['created', 'new-version', 'unchanged']),
});

export interface TypesRoutesDeps {
  /** Reads (the local database, or the fleet's local copy). */
  types: TypeService;
  /** Changes: default straight to the local database; in a fleet, PostgreSQL first (src/fleet/type-writer.ts). */
  writer?: TypeWriter;
}

const BaseVersionQuery = Type.Object(
  {
    baseVersion: Type.Optional({
      ...SpecFields.typeIdVersion,
      description: 'the typeIdVersion this change was decided on; another current version → 409 QBG_ERR_TYPE_RACED (no edit lost)',
    }),
  },
  { additionalProperties: false },
);

export function typesRoutes(deps: TypesRoutesDeps): FastifyPluginAsync {
  const { types } = deps;
  const writer = deps.writer ?? localTypeWriter(types);
  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['VSI types'];

    app.get('/types', {
      config: { role: 'monitor' },
      schema: { tags, summary: 'All VSI types (current versions)', response: { 200: Type.Object({ types: Type.Array(VsiTypeVersionSchema) }) } },
      handler: async () => ({ types: types.list() }),
    });

    app.get('/types/:name', {
      config: { role: 'monitor' },
      schema: {
        tags,
        summary: 'A VSI type: its current version and the list of its versions',
        params: NameParams,
        response: { 200: Type.Object({ ...VsiTypeVersionSchema.properties, versions: Type.Array(Type.Integer()) }) },
      },
      handler: async (req) => {
        const s = types.summary(req.params.name);
        return { ...s.current, versions: s.versions };
      },
    });

    app.get('/types/:name/versions', {
      config: { role: 'monitor' },
      schema: {
        tags,
        summary: 'Every version of a VSI type, oldest first (the last is current)',
        params: NameParams,
        response: { 200: Type.Object({ name: Type.String(), current: Type.Integer(), versions: Type.Array(VsiTypeVersionSchema) }) },
      },
      handler: async (req) => {
        const versions = types.versions(req.params.name);
        return { name: req.params.name, current: types.require(req.params.name).typeIdVersion, versions };
      },
    });

    app.get('/types/:name/versions/:v', {
      config: { role: 'monitor' },
      schema: { tags, summary: 'One version of a VSI type', params: VersionParams, response: { 200: VsiTypeVersionSchema } },
      handler: async (req) => types.require(req.params.name, req.params.v),
    });

    app.post('/types', {
      config: { role: 'admin' },
      schema: { tags, summary: 'Create a VSI type (its first version)', body: CreateTypeBody, response: { 201: VsiTypeVersionSchema } },
      handler: async (req, reply) => {
        const created = await writer.create(req.body);
        reply.status(201);
        return created;
      },
    });

    app.put('/types/:name', {
      config: { role: 'admin' },
      schema: {
        tags,
        summary: 'Edit a VSI type: changed parameters make a new version; no change is a no-op (changed: false)',
        params: NameParams,
        querystring: BaseVersionQuery,
        body: EditTypeBody,
        response: { 200: Type.Object({ changed: Type.Boolean(), message: Type.String(), type: VsiTypeVersionSchema }) },
      },
      handler: async (req) => writer.edit(req.params.name, req.body, { baseVersion: req.query.baseVersion }),
    });

    app.delete('/types/:name', {
      config: { role: 'admin' },
      schema: {
        tags,
        summary: 'Delete a VSI type with all its versions (refused while NICs use it)',
        params: NameParams,
        querystring: BaseVersionQuery,
        response: { 200: Type.Object({ name: Type.String(), versions: Type.Integer() }) },
      },
      handler: async (req) => writer.delete(req.params.name, { baseVersion: req.query.baseVersion }),
    });

    app.post('/types/import', {
      config: { role: 'admin' },
      schema: {
        tags,
        summary: 'Import profile files (YAML/JSON, one type each): all validated first, then stored in one transaction — all or nothing',
        body: ImportBody,
        response: { 200: Type.Object({ imported: Type.Array(ImportOutcomeSchema) }) },
      },
      handler: async (req) => ({ imported: await writer.importSpecs(parseProfileSources(req.body.files)) }),
    });
  };
}
