// The fleet from any of its hosts: this host's part (status: PostgreSQL reachable, outbox depth, type copy), every
// VM NIC of every host (keyset paging: ?cursor= is the previous page's "next"), every host with its freshness and
// outbox lag, and the findings of the fleet checks. Reading is the monitor role's, as for a host's own NICs.
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { qbgError } from '../domain/errors.js';
import { NIC_STATES } from '../domain/nic-state.js';
import type { Fleet } from '../fleet/fleet.js';

const FleetNicSchema = Type.Object({
  host: Type.String(),
  id: Type.String(),
  vmUuid: Type.String(),
  mac: Type.String(),
  uplink: Type.String(),
  typeName: Type.String(),
  typeId: Type.Integer(),
  typeIdVersion: Type.Integer(),
  vlan: Type.Integer(),
  instanceUuid: Type.String(),
  state: Type.String(),
  desiredMode: Type.String(),
  owner: Type.String({ description: 'who announces the VSI on its host: qbg, or libvirt (qbg observes; docs/ownership.md)' }),
  reasonCode: Type.Optional(Type.Integer()),
  reason: Type.Optional(Type.String()),
  requestCause: Type.Optional(Type.String()),
  updatedAt: Type.String(),
});

const FleetHostSchema = Type.Object({
  host: Type.String(),
  lastSeen: Type.String(),
  secondsSinceSeen: Type.Integer(),
  stale: Type.Boolean(),
  outboxRows: Type.Integer({ description: 'NIC changes not yet published, as the host last reported' }),
  outboxLagSeconds: Type.Integer({ description: 'age of the oldest of them then' }),
  lastSeq: Type.Integer(),
  qbgVersion: Type.Optional(Type.String()),
  nics: Type.Record(Type.String(), Type.Integer(), { description: 'NIC count by state' }),
});

const StatusSchema = Type.Object({
  enabled: Type.Boolean(),
  host: Type.Optional(Type.String()),
  postgres: Type.Optional(Type.String({ description: 'URL without password' })),
  reachable: Type.Optional(Type.Boolean()),
  schemaReady: Type.Optional(Type.Boolean()),
  outbox: Type.Optional(Type.Object({ rows: Type.Integer(), oldestAt: Type.Optional(Type.String()) })),
  published: Type.Optional(Type.Integer()),
  lastDrainAt: Type.Optional(Type.String()),
  lastError: Type.Optional(Type.String()),
  typesRev: Type.Optional(Type.Integer()),
  typesSyncedAt: Type.Optional(Type.String()),
  checker: Type.Optional(Type.Boolean()),
  findings: Type.Optional(Type.Record(Type.String(), Type.Integer())),
});

export const FleetNicsQuery = Type.Object(
  {
    host: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    vm: Type.Optional(Type.String({ minLength: 32, maxLength: 36, description: 'VM UUID' })),
    state: Type.Optional(Type.Enum([...NIC_STATES])),
    type: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'VSI type name' })),
    uplink: Type.Optional(Type.String({ minLength: 1, maxLength: 15 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'page size 1–1000 (default 100)' })),
    cursor: Type.Optional(Type.String({ maxLength: 400, description: 'the "next" of the previous page' })),
  },
  { additionalProperties: false },
);

export function fleetRoutes(deps: { fleet?: Fleet }): FastifyPluginAsync {
  const { fleet } = deps;
  const need = (): Fleet => {
    if (!fleet) throw qbgError('QBG_ERR_FLEET_OFF');
    return fleet;
  };
  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['fleet'];

    app.get('/fleet/status', {
      config: { role: 'monitor' },
      schema: { tags, summary: "This host's part in the fleet: PostgreSQL reachable, outbox depth, VSI type copy", response: { 200: StatusSchema } },
      handler: async () => (fleet ? fleet.status() : { enabled: false }),
    });

    app.get('/fleet/nics', {
      config: { role: 'monitor' },
      schema: {
        tags,
        summary: 'Every VM NIC of every host, ordered by host and NIC id (keyset paging)',
        querystring: FleetNicsQuery,
        response: { 200: Type.Object({ items: Type.Array(FleetNicSchema), next: Type.Optional(Type.String()) }) },
      },
      handler: async (req) => {
        const { limit, cursor, ...filter } = req.query;
        return need().nics(filter, { limit: limit ?? 100, ...(cursor !== undefined ? { cursor } : {}) });
      },
    });

    app.get('/fleet/hosts', {
      config: { role: 'monitor' },
      schema: { tags, summary: 'Every host of the fleet: last seen, outbox lag, NIC counts by state', response: { 200: Type.Object({ hosts: Type.Array(FleetHostSchema) }) } },
      handler: async () => ({ hosts: await need().hosts() }),
    });

    app.get('/fleet/findings', {
      config: { role: 'monitor' },
      schema: {
        tags,
        summary: 'Fleet checks now: VSIs held on two hosts, migration sources still holding, stale hosts with associated NICs',
        response: {
          200: Type.Object({
            findings: Type.Array(Type.Object({ check: Type.String(), key: Type.String(), detail: Type.Record(Type.String(), Type.Unknown()) })),
          }),
        },
      },
      handler: async () => ({ findings: await need().check().catch(() => need().currentFindings()) }),
    });
  };
}
