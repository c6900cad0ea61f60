// POST /explain: what qbg would do for each NIC of a domain, and what would make its start fail, before it is
// tried (src/libvirt/explain.ts). Read-only, like POST /xml/check: a monitor token may call it.
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { parseIfname } from '../domain/identifiers.js';
import { EXPLAIN_FINDINGS } from '../libvirt/explain.js';
import { XML_LIMITS } from '../libvirt/xml-read.js';
import { explain, type ExplainDeps } from '../service/explain-facts.js';

const ExplainBody = Type.Object(
  {
    xml: Type.String({ minLength: 1, maxLength: XML_LIMITS.maxBytes, description: 'a libvirt <domain> document' }),
    defaultUplink: Type.Optional(Type.String({ minLength: 1, maxLength: 15, description: "the hook's defaultUplink, for NICs that name no <source dev>" })),
  },
  { additionalProperties: false },
);

const Finding = Type.Object({
  code: Type.Enum(Object.keys(EXPLAIN_FINDINGS), { description: 'stable finding code' }),
  severity: Type.Enum(['error', 'warning'], { description: 'error: the start (or the VSI) would fail' }),
  nic: Type.Optional(Type.String()),
  field: Type.String(),
  message: Type.String(),
  fix: Type.String(),
});

const ExplainResultSchema = Type.Object({
  ok: Type.Boolean({ description: 'true when nothing found would make the start fail' }),
  domain: Type.Object({ name: Type.Optional(Type.String()), uuid: Type.Optional(Type.String()) }),
  nics: Type.Array(
    Type.Object({
      mac: Type.String(),
      interfaceType: Type.String(),
      owner: Type.Enum(['qbg', 'libvirt', 'none']),
      ownerFrom: Type.Enum(['config', 'xml']),
      type: Type.Union([Type.Null(), Type.Object({ name: Type.String(), typeIdVersion: Type.Integer(), typeId: Type.Integer(), managerId: Type.Optional(Type.Integer()) })]),
      vlan: Type.Integer(),
      uplink: Type.Union([Type.String(), Type.Null()]),
      mode: Type.Optional(Type.String()),
    }),
  ),
  findings: Type.Array(Finding),
  host: Type.Object({
    lldpad: Type.Object({ ok: Type.Boolean(), pid: Type.Optional(Type.Integer()) }),
    libvirtd: Type.Union([Type.Null(), Type.Object({ pid: Type.Integer(), version: Type.Optional(Type.String()), portShim: Type.Boolean() })]),
  }),
});

export function explainRoutes(deps: ExplainDeps): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    app.post('/explain', {
      config: { role: 'monitor' },
      schema: {
        tags: ['libvirt XML'],
        summary: "For each NIC of a domain: owner, VSI type and version, VLAN, uplink, and every finding that would make its start fail (200 with ok false and the findings when so)",
        body: ExplainBody,
        response: { 200: ExplainResultSchema },
      },
      handler: async (req) => {
        const defaultUplink = req.body.defaultUplink === undefined ? undefined : parseIfname(req.body.defaultUplink, 'defaultUplink');
        return explain(deps, req.body.xml, defaultUplink === undefined ? {} : { defaultUplink });
      },
    });
  };
}
