// libvirt XML over HTTP. Generation has no side effects, so a monitor token may call it; rewriting a domain is what
// a provisioning hook does (role hook). XML bodies are bounded (size here, depth and node count in xml-read) and
// a DOCTYPE is refused before parsing, so no entity is ever expanded.
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { fieldError, QbgError } from '../domain/errors.js';
import { TYPE_ID_VERSION_MAX } from '../domain/identifiers.js';
import type { VsiTypeLookup } from '../domain/vsi-type.js';
import { rewriteDomainXml } from '../libvirt/domain-rewrite.js';
import { directInterfaceXml, networkInterfaceXml } from '../libvirt/interface-xml.js';
import { mergeInterfaceWithNetwork } from '../libvirt/merge.js';
import { checkLibvirtXml, XML_KINDS, XML_RULES } from '../libvirt/xml-check.js';
import { vepaNetworkXml } from '../libvirt/network-xml.js';
import { DIRECT_MODES } from '../libvirt/virtualport.js';
import { parseXmlDocument, rootElement, tagName, XML_LIMITS } from '../libvirt/xml-read.js';

export interface XmlRoutesDeps {
  types: VsiTypeLookup;
  /** Who announces this host's VSIs (config ownership): qbg → the rewrite leaves no interface virtualport; libvirt
   *  (the default here, for callers without a config) → the full virtualport. `qbg serve` passes its config. */
  ownership?: 'qbg' | 'libvirt';
}

/** Response header of POST /xml/rewrite carrying the change summary as compact JSON (ASCII only: MACs, names, ids). */
export const CHANGES_HEADER = 'x-qbg-changes';

const Name = (description: string) => Type.String({ minLength: 1, maxLength: 64, description });
const Mac = Type.String({ minLength: 1, maxLength: 32, description: 'MAC address, e.g. 52:54:00:12:34:56' });
const Uuid = (description: string) => Type.String({ minLength: 1, maxLength: 40, description });
const Version = Type.Integer({ minimum: 0, maximum: TYPE_ID_VERSION_MAX, description: 'pin a typeIdVersion 0–255 (default: current)' });
const Model = Type.String({ minLength: 1, maxLength: 32, description: '<model type>, default virtio' });
const XmlString = (description: string) => Type.String({ minLength: 1, maxLength: XML_LIMITS.maxBytes, description });

export const InterfaceBody = Type.Object(
  {
    profile: Name('qbg VSI type (profile) name'),
    version: Type.Optional(Version),
    uplink: Type.String({ minLength: 1, maxLength: 15, description: 'uplink device of the macvtap (<source dev>)' }),
    mac: Mac,
    vmUuid: Type.Optional(Uuid('VM UUID: the instance id is then derived from VM UUID + MAC (stable)')),
    mode: Type.Optional(Type.Enum([...DIRECT_MODES], { description: 'macvtap mode, default vepa' })),
    model: Type.Optional(Model),
    instanceId: Type.Optional(Uuid('explicit VSI instance id')),
  },
  { additionalProperties: false },
);

export const InterfaceNetworkBody = Type.Object(
  {
    network: Name('libvirt network name'),
    portgroup: Type.Optional(Name('portgroup (default: the network default portgroup)')),
    mac: Mac,
    model: Type.Optional(Model),
    vmUuid: Type.Optional(Uuid('VM UUID: stable instance id from VM UUID + MAC')),
    instanceId: Type.Optional(Uuid('explicit VSI instance id')),
    profile: Type.Optional(Name('also repeat this profile parameters at interface level')),
    version: Type.Optional(Version),
  },
  { additionalProperties: false },
);

export const NetworkBody = Type.Object(
  {
    name: Name('libvirt network name'),
    uuid: Type.Optional(Uuid('network UUID')),
    uplinks: Type.Array(Type.String({ minLength: 1, maxLength: 15 }), { minItems: 1, maxItems: 64, description: 'uplinks of <forward mode="vepa">' }),
    portgroups: Type.Array(
      Type.Object(
        {
          name: Name('portgroup name'),
          profile: Name('qbg VSI type (profile) name'),
          version: Type.Optional(Version),
          default: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
      { maxItems: 256 },
    ),
  },
  { additionalProperties: false },
);

const RewriteQuery = Type.Object(
  {
    vmUuid: Type.Optional(Uuid('VM UUID when the domain has no <uuid>')),
    format: Type.Optional(Type.Enum(['xml', 'json'], { description: 'json: answer {xml, changes} instead of the XML' })),
  },
  { additionalProperties: false },
);

export const RewriteJsonBody = Type.Object(
  {
    xml: XmlString('domain XML'),
    vmUuid: Type.Optional(Uuid('VM UUID when the domain has no <uuid>')),
    networks: Type.Optional(
      Type.Record(Type.String({ maxLength: 64 }), XmlString('network XML'), {
        description: 'network XML by name: type="network" NICs are merge-checked against them',
      }),
    ),
  },
  { additionalProperties: false },
);

const MergeBody = Type.Object(
  { interface: XmlString('an <interface type="network"> element'), network: XmlString('its <network>') },
  { additionalProperties: false },
);

const CheckBody = Type.Object(
  {
    xml: XmlString('a libvirt <domain>, <network> or <networkport> document'),
    kind: Type.Optional(Type.Enum([...XML_KINDS], { description: 'default: from the root element' })),
    network: Type.Optional(XmlString('for a <networkport>: the <network> it is created on; for a <domain>: the <network> its type="network" NICs name (adds the rules libvirt applies when it allocates the port / starts the VM)')),
  },
  { additionalProperties: false },
);

const CheckResult = Type.Object({
  kind: Type.String(),
  ok: Type.Boolean({ description: 'true when libvirt would define (create) the document' }),
  violations: Type.Array(
    Type.Object({
      rule: Type.Enum(Object.keys(XML_RULES), { description: 'stable rule id' }),
      element: Type.String(),
      message: Type.String(),
    }),
  ),
});

const NicChangeSchema = Type.Object({
  mac: Type.String(),
  profile: Type.String(),
  interfaceType: Type.String(),
  owner: Type.String({ description: "who announces the VSI: libvirt (from the interface's virtualport) or qbg (the hook, from the metadata)" }),
  virtualport: Type.Object({ managerId: Type.Integer(), typeId: Type.Integer(), typeIdVersion: Type.Integer(), instanceId: Type.String() }),
  instanceIdFrom: Type.String(),
  action: Type.String({ description: 'added, completed, unchanged, or removed (ownership qbg: the virtualport the interface had)' }),
});

const RewriteResultSchema = Type.Object({ xml: Type.String(), changes: Type.Array(NicChangeSchema) });

const xmlResponse = (description: string) => ({ 200: { description, content: { 'application/xml': { schema: { type: 'string' } } } } });

export function xmlRoutes(deps: XmlRoutesDeps): FastifyPluginAsync {
  const { types } = deps;
  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['libvirt XML'];

    // XML bodies arrive as strings; the size limit answers 413 (QBG_ERR_XML_LIMIT) before anything is parsed.
    app.addContentTypeParser(['application/xml', 'text/xml'], { parseAs: 'string', bodyLimit: XML_LIMITS.maxBytes }, (_req, body, done) =>
      done(null, body),
    );
    // Say the limit in the error (fastify's own words are just "Request body is too large"); the server's handler
    // then answers in the catalogue's shape.
    app.setErrorHandler((err: Error & { code?: string }) => {
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') throw fieldError('body', 'QBG_ERR_XML_LIMIT', 'size', `${XML_LIMITS.maxBytes} bytes`);
      throw err;
    });

    app.post('/xml/interface', {
      config: { role: 'monitor' },
      schema: { tags, summary: "<interface type='direct'> (macvtap) with the profile's 802.1Qbg virtualport", body: InterfaceBody, response: xmlResponse('interface XML') },
      handler: async (req, reply) => reply.type('application/xml').send(directInterfaceXml(types, req.body)),
    });

    app.post('/xml/interface-network', {
      config: { role: 'monitor' },
      schema: { tags, summary: "<interface type='network'> naming a VEPA network and portgroup", body: InterfaceNetworkBody, response: xmlResponse('interface XML') },
      handler: async (req, reply) => reply.type('application/xml').send(networkInterfaceXml(types, req.body)),
    });

    app.post('/xml/network', {
      config: { role: 'monitor' },
      schema: { tags, summary: "<network> with <forward mode='vepa'> and one portgroup per profile", body: NetworkBody, response: xmlResponse('network XML') },
      handler: async (req, reply) => reply.type('application/xml').send(vepaNetworkXml(types, req.body)),
    });

    app.post('/xml/merge', {
      config: { role: 'monitor' },
      schema: {
        tags,
        summary: 'The virtualport libvirt will use for an interface of a network (interface, network, portgroup merged); 409 on a conflict',
        body: MergeBody,
        response: { 200: Type.Object({ virtualport: Type.Union([Type.Null(), Type.Object({}, { additionalProperties: true })]) }) },
      },
      handler: async (req) => {
        const iface = rootElement(parseXmlDocument(req.body.interface, 'interface'));
        if (tagName(iface) !== 'interface') throw new QbgError('QBG_ERR_XML_SHAPE', `expected <interface>, got <${tagName(iface)}>`, { field: 'interface' });
        return { virtualport: mergeInterfaceWithNetwork(iface, 'interface', parseXmlDocument(req.body.network, 'network')) ?? null };
      },
    });

    app.post('/xml/check', {
      config: { role: 'monitor' },
      schema: {
        tags,
        summary: "Would libvirt define this document? Its <virtualport> rules at define time (200 with ok false and each violation's rule and element when not)",
        body: CheckBody,
        response: { 200: CheckResult },
      },
      handler: async (req) => checkLibvirtXml(req.body.xml, { kind: req.body.kind, network: req.body.network }),
    });

    app.post('/xml/rewrite', {
      config: { role: 'hook' },
      schema: {
        tags,
        summary:
          'Rewrite a domain XML for this host\'s ownership (docs/ownership.md): NICs named in <metadata><qbg:nics xmlns:qbg="https://qbg.example/xmlns/1"> get their virtualport and a stable instance id where libvirt owns the VSIs, and lose any virtualport where qbg owns them (the hook announces them). ' +
          `Body application/xml (answer: the XML, summary in the ${CHANGES_HEADER} header; ?format=json for {xml, changes}) ` +
          'or application/json {xml, vmUuid?, networks?} (answer {xml, changes})',
        querystring: RewriteQuery,
        body: {
          content: {
            'application/xml': { schema: { type: 'string' } },
            'text/xml': { schema: { type: 'string' } },
            'application/json': { schema: RewriteJsonBody },
          },
        } as never,
        response: { 200: { description: 'rewritten domain', content: { 'application/xml': { schema: { type: 'string' } }, 'application/json': { schema: RewriteResultSchema } } } },
      },
      handler: async (req, reply) => {
        const body = req.body as unknown;
        const json = typeof body === 'object' && body !== null;
        const ct = String(req.headers['content-type'] ?? '');
        if (!json && !/^(application|text)\/xml\b/.test(ct)) {
          throw fieldError('content-type', 'QBG_ERR_BAD_REQUEST', `send the domain as application/xml (or text/xml), or as JSON {xml}; got ${ct || 'none'}`);
        }
        const input = json ? (body as { xml: string; vmUuid?: string; networks?: Record<string, string> }) : { xml: String(body ?? '') };
        const vmUuid = input.vmUuid ?? req.query.vmUuid;
        const result = rewriteDomainXml(types, input.xml, {
          ...(vmUuid !== undefined ? { vmUuid } : {}),
          ...(input.networks ? { networks: input.networks } : {}),
          ownership: deps.ownership ?? 'libvirt',
        });
        if (json || req.query.format === 'json') return reply.type('application/json').send(JSON.stringify(result));
        reply.header(CHANGES_HEADER, JSON.stringify(result.changes));
        return reply.type('application/xml').send(result.xml);
      },
    });
  };
}
