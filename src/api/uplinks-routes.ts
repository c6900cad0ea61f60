// REST API of the uplinks: desired EVB config next to what lldpad runs, and whether the bridge's EVB TLV was
// heard. The body schema carries lldpad's ranges (documented at /docs); parseUplinkConfig stays the authority.
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { EVB_RANGES, EVB_ROLES, LLDP_ADMIN_STATUSES } from '../domain/evb-config.js';
import type { UplinkManager } from '../service/uplink-manager.js';

const range = (f: keyof typeof EVB_RANGES, description: string) =>
  Type.Integer({ minimum: EVB_RANGES[f][0], maximum: EVB_RANGES[f][1], description: `${description} (${EVB_RANGES[f][0]}–${EVB_RANGES[f][1]})` });

const SettingFields = {
  adminStatus: Type.Enum([...LLDP_ADMIN_STATUSES], { description: 'LLDP on the nearest-customer-bridge agent; EVB needs rxtx' }),
  evbTx: Type.Boolean({ description: 'send the EVB TLV (lldptool enableTx)' }),
  role: Type.Enum([...EVB_ROLES], { description: 'evbmode; lldpad must be restarted for a role change to reach VDP' }),
  gpid: Type.Boolean({ description: 'group identifiers supported (evbgpid)' }),
  reflectiveRelay: Type.Boolean({ description: 'station: request reflective relay (evbrrreq); bridge: offer it (evbrrcap)' }),
  ecpRetries: range('ecpRetries', 'ECP maximum retries'),
  ecpRte: range('ecpRte', 'ECP retransmission exponent, timeout 10 µs × 2^RTE'),
  vdpRka: range('vdpRka', 'VDP keep-alive exponent, 10 µs × 2^RKA'),
  vdpRwd: range('vdpRwd', 'VDP resource wait delay exponent, 10 µs × 2^RWD'),
};

const UplinkName = Type.String({ minLength: 1, maxLength: 15, description: 'interface name, 1–15 characters' });
const Netns = Type.String({ minLength: 1, maxLength: 64, description: 'network namespace of the lldpad managing the uplink' });

export const PutUplinkBody = Type.Object(
  {
    uplink: Type.Optional(UplinkName),
    netns: Type.Optional(Netns),
    ...Object.fromEntries(Object.entries(SettingFields).map(([k, v]) => [k, Type.Optional(v)])),
  },
  { additionalProperties: false, description: 'desired EVB config; left-out settings take the defaults (EVB on, role station)' },
);

const Settings = Type.Object(SettingFields);
const Desired = Type.Object({ uplink: UplinkName, netns: Type.Optional(Netns), ...SettingFields });
const Change = Type.Object({
  field: Type.String(),
  actual: Type.Optional(Type.Unknown({ description: 'what lldpad runs (absent: unknown)' })),
  desired: Type.Unknown(),
});

export const UplinkStatusSchema = Type.Object({
  uplink: Type.String(),
  netns: Type.Optional(Type.String()),
  desired: Desired,
  actual: Type.Union([Settings, Type.Null()]),
  diff: Type.Array(Change),
  inSync: Type.Boolean(),
  lldpadPid: Type.Union([Type.Integer(), Type.Null()]),
  peerEvbSeen: Type.Boolean({ description: "lldpad has received and processed the bridge's EVB TLV" }),
  bridge: Type.Optional(
    Type.Object(
      {
        groupId: Type.Boolean(),
        reflectiveRelayCapable: Type.Boolean(),
        reflectiveRelayOn: Type.Boolean(),
        ecpRetries: Type.Integer(),
        ecpRte: Type.Integer(),
        vdpRwd: Type.Integer(),
        vdpRka: Type.Integer(),
      },
      { description: "what the bridge advertised in its EVB TLV" },
    ),
  ),
  negotiated: Type.Optional(
    Type.Object({
      ecpRetries: Type.Integer(),
      ecpRte: Type.Integer(),
      vdpRwd: Type.Integer(),
      vdpRka: Type.Integer(),
      reflectiveRelayStatus: Type.String(),
    }),
  ),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
  checkedAt: Type.String(),
});

const ApplySchema = Type.Object({
  uplink: Type.String(),
  changed: Type.Array(Change),
  remaining: Type.Array(Change),
  restartNeeded: Type.Boolean(),
  status: UplinkStatusSchema,
});

const NameParams = Type.Object({ name: UplinkName });

export interface UplinkRoutesOptions {
  uplinks: UplinkManager;
}

/** GET /uplinks, GET|PUT|DELETE /uplinks/:name, POST /uplinks/:name/apply. */
export async function uplinkRoutes(fastify: FastifyInstance, opts: UplinkRoutesOptions): Promise<void> {
  const { uplinks } = opts;
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const tags = ['uplinks'];

  app.get('/uplinks', {
    config: { role: 'monitor' },
    schema: { tags, summary: 'Every configured uplink: desired vs actual, peer EVB seen', response: { 200: Type.Object({ uplinks: Type.Array(UplinkStatusSchema) }) } },
    handler: async () => ({ uplinks: await uplinks.list() }),
  });

  app.get('/uplinks/:name', {
    config: { role: 'monitor' },
    schema: { tags, summary: 'One uplink: desired vs actual, what the bridge advertised', params: NameParams, response: { 200: UplinkStatusSchema } },
    handler: async (req) => uplinks.status(req.params.name),
  });

  app.put('/uplinks/:name', {
    config: { role: 'admin' },
    schema: {
      tags,
      summary: 'Store the desired EVB config of an uplink (validated first: nothing is stored on error). POST …/apply or the drift check applies it.',
      params: NameParams,
      body: PutUplinkBody,
      response: { 200: Desired },
    },
    handler: async (req) => uplinks.put(req.params.name, req.body),
  });

  app.delete('/uplinks/:name', {
    config: { role: 'admin' },
    schema: { tags, summary: 'Forget the desired config (lldpad keeps what it runs)', params: NameParams, response: { 204: Type.Null() } },
    handler: async (req, reply) => {
      await uplinks.delete(req.params.name);
      return reply.status(204).send(null);
    },
  });

  app.post('/uplinks/:name/apply', {
    config: { role: 'admin' },
    schema: { tags, summary: 'Apply the desired config to lldpad now; only differing settings are changed', params: NameParams, response: { 200: ApplySchema } },
    handler: async (req) => uplinks.apply(req.params.name),
  });
}

/** The same plugin with its dependency bound, for buildServer({ routes: [...] }). */
export function uplinksRoutesFor(uplinks: UplinkManager): FastifyPluginAsync {
  return async (app) => uplinkRoutes(app, { uplinks });
}
