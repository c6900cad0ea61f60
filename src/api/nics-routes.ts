// REST API of VM NICs and their associations, shaped for hooks (libvirt qemu hooks, orchestrators): one call per
// step, the body names the NIC by VM UUID + MAC, and the HTTP status says whether lldpad accepted — a hook can
// fail the VM start on anything but 2xx. Schemas give shapes and ranges (documented at /docs); src/domain/nic.ts
// stays the one authority on meaning.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { QbgError, qbgError } from '../domain/errors.js';
import { TYPE_ID_VERSION_MAX, VLAN_MAX } from '../domain/identifiers.js';
import { NIC_MODES, NIC_OWNERS, parseNicId, type Nic } from '../domain/nic.js';
import { NIC_STATES } from '../domain/nic-state.js';
import { FORGETTABLE_STATES, type NicAnswer, type NicService } from '../service/nic-service.js';
import type { MigrationService, MigrationStepResult } from '../service/migration.js';
import type { Reconciler } from '../service/reconciler.js';
import { etagMatches } from '../vtdb/typedb-wire.js';
import { SeqCache, seqEtag } from './seq-cache.js';

const Uuid = Type.String({ minLength: 32, maxLength: 36, description: 'UUID, e.g. 8c6f9e6e-2d0b-4a4e-9b3e-0e5f1f2a3b4c' });
const Mac = Type.String({ minLength: 17, maxLength: 17, description: 'unicast MAC, e.g. 52:54:00:12:34:56' });
const Uplink = Type.String({ minLength: 1, maxLength: 15, description: 'station uplink (Linux interface name, 1–15 characters)' });
const TypeName = Type.String({ minLength: 1, maxLength: 64, description: 'VSI type name' });
const Vlan = Type.Integer({ minimum: 0, maximum: VLAN_MAX, description: 'VLAN id 0–4095' });
const Version = Type.Integer({ minimum: 0, maximum: TYPE_ID_VERSION_MAX, description: 'pin a VSI type version 0–255 (default: current)' });

const NicFields = {
  mac: Mac,
  uplink: Uplink,
  type: TypeName,
  version: Type.Optional(Version),
  vlan: Vlan,
  instanceUuid: Type.Optional({ ...Uuid, description: 'VSI instance UUID; default: derived from VM UUID + MAC (same on every host)' }),
};

export const AssociateBody = Type.Object(
  { vmUuid: Uuid, ...NicFields, mode: Type.Optional(Type.Enum([...NIC_MODES], { description: 'assoc (default), preassoc, preassoc-rr' })) },
  { additionalProperties: false },
);

export const ObserveBody = Type.Object(
  {
    vmUuid: Uuid,
    ...NicFields,
    expect: Type.Enum(['held', 'gone'], { description: "what libvirt's step should have left in lldpad: held (VM started), gone (VM stopped)" }),
    attachedWhileRunning: Type.Optional(
      Type.Boolean({
        description:
          "expect gone only: the NIC was attached while the VM ran (the hook saw the VM's other NICs held). libvirt runs no hook at an attach, so qbg may never have seen it held: not a failed association",
      }),
    ),
  },
  { additionalProperties: false },
);

const MigrationNic = Type.Object(NicFields, { additionalProperties: false });
export const PrepareBody = Type.Object({ nics: Type.Array(MigrationNic, { minItems: 1, maxItems: 64 }) }, { additionalProperties: false });

export const NicSchema = Type.Object({
  id: Type.String(),
  vmUuid: Type.String(),
  mac: Type.String(),
  uplink: Type.String(),
  typeName: Type.String(),
  typeId: Type.Integer(),
  typeIdVersion: Type.Integer(),
  managerId2: Type.String(),
  filterFormat: Type.String(),
  groupId: Type.Optional(Type.Integer()),
  vlan: Type.Integer(),
  bridgeVlan: Type.Optional(Type.Integer({ description: 'the VID the bridge assigned to a wildcard (vlan 0) request, while held' })),
  instanceUuid: Type.String(),
  owner: Type.String({ description: `who announces the VSI: ${NIC_OWNERS.join(' or ')} (docs/ownership.md)` }),
  state: Type.String({ description: NIC_STATES.join(', ') }),
  desiredMode: Type.String(),
  reasonCode: Type.Optional(Type.Integer()),
  reason: Type.Optional(Type.String()),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

const AnswerSchema = Type.Object({
  nic: NicSchema,
  asked: Type.Boolean({ description: 'false: already so, lldpad was not asked again' }),
  outcome: Type.Optional(Type.Object({ kind: Type.String() }, { additionalProperties: true })),
});

const HistorySchema = Type.Object({
  seq: Type.Integer(),
  nicId: Type.String(),
  at: Type.String(),
  from: Type.String(),
  to: Type.String(),
  event: Type.String(),
  cause: Type.String(),
  reasonCode: Type.Optional(Type.Integer()),
  reason: Type.Optional(Type.String()),
});

const StepSchema = Type.Object({ vmUuid: Type.String(), step: Type.String(), ok: Type.Boolean(), nics: Type.Array(NicSchema) });

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 60, description: 'NIC id "<vm uuid>_<mac>"' }) });
const VmParams = Type.Object({ vmUuid: Uuid });

export const ListQuery = Type.Object(
  {
    vm: Type.Optional(Uuid),
    uplink: Type.Optional(Uplink),
    state: Type.Optional(Type.Enum([...NIC_STATES])),
    type: Type.Optional(TypeName),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'page size 1–1000 (default 100)' })),
    after: Type.Optional(Type.String({ minLength: 1, maxLength: 400, description: 'cursor: the `next` of the previous page (fast at any depth)' })),
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000, description: 'rows to skip (old clients; slow on deep pages: use after)' })),
  },
  { additionalProperties: false },
);

const HistoryQuery = Type.Object(
  {
    after: Type.Optional(Type.Integer({ minimum: 0, description: 'cursor: history rows after this seq' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'rows 1–1000 (default 100)' })),
  },
  { additionalProperties: false },
);

const DeleteQuery = Type.Object(
  { disassociate: Type.Optional(Type.Boolean({ description: 'de-associate first, then forget (default false: refuse a NIC lldpad may hold)' })) },
  { additionalProperties: false },
);

export interface NicsRoutesDeps {
  nics: NicService;
  migration: MigrationService;
  reconciler?: Reconciler;
}

/** A settled answer is 200; what lldpad or the bridge refused is an error carrying the NIC as persisted. */
function answerOrThrow(a: NicAnswer): NicAnswer {
  const { nic } = a;
  const o = a.outcome;
  if (nic.state === 'failed' || nic.state === 'timed-out') {
    const details = { nic } as Record<string, unknown>;
    let e: QbgError;
    if (o?.kind === 'timeout') e = qbgError('QBG_ERR_VDP_TIMEOUT', nic.instanceUuid, o.afterMs);
    else if (o?.kind === 'transport-error') e = qbgError('QBG_ERR_LLDPAD_COMMAND', `VSI ${nic.instanceUuid} on ${nic.uplink}`, o.message);
    else e = qbgError('QBG_ERR_VDP_REJECTED', nic.instanceUuid, nic.reason ?? 'no reason given');
    throw new QbgError(e.code, e.message, { details });
  }
  return a;
}

function stepOrThrow(r: MigrationStepResult): MigrationStepResult {
  if (r.ok) return r;
  const bad = r.nics.filter((n: Nic) => n.reason).map((n) => `${n.mac}: ${n.reason}`);
  throw new QbgError('QBG_ERR_VDP_REJECTED', `migration ${r.step} of VM ${r.vmUuid} failed (${bad.join('; ') || 'not all NICs settled'})`, {
    details: { ...r },
  });
}

export function nicsRoutes(deps: NicsRoutesDeps): FastifyPluginAsync {
  const { nics, migration, reconciler } = deps;
  const byId = (raw: string): string => {
    const { id } = parseNicId(raw, 'id');
    if (!nics.repo.get(id)) throw qbgError('QBG_ERR_NIC_NOT_FOUND', id);
    return id;
  };
  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['NICs'];

    // Status reads: ETag = the NICs' change sequence (read BEFORE the rows, so a write in between only makes the
    // ETag older than the body: the next poll then gets 200, never a wrong 304), and answers built once per change.
    const reads = new SeqCache();
    const conditional = (req: FastifyRequest, reply: FastifyReply): number | undefined => {
      const seq = nics.repo.changeSeq();
      const etag = seqEtag('nics', seq);
      reply.header('etag', etag).header('cache-control', 'no-cache');
      return etagMatches(req.headers['if-none-match'], etag) ? undefined : seq;
    };
    const notModified = (reply: FastifyReply): FastifyReply => reply.code(304).send();
    const cached = (reply: FastifyReply, seq: number, key: string, build: () => unknown): FastifyReply => {
      let body = reads.get(seq, key);
      if (body === undefined) reads.set(seq, key, (body = Buffer.from(reply.serialize(build()) as string)));
      return reply.type('application/json; charset=utf-8').send(body);
    };

    app.get('/nics', {
      config: { role: 'monitor' },
      schema: {
        tags,
        summary: 'VM NICs with filters (vm, uplink, state, type), in creation order; next page: after=<next>. ETag: If-None-Match → 304',
        description: 'total counts all matches (kept by the store, not counted per page); offset still works but walks every skipped row',
        querystring: ListQuery,
        response: {
          200: Type.Object({
            items: Type.Array(NicSchema),
            total: Type.Integer(),
            limit: Type.Integer(),
            offset: Type.Optional(Type.Integer({ description: 'echoed when asked by offset' })),
            next: Type.Optional(Type.String({ description: 'cursor of the next page (absent on the last page)' })),
          }),
        },
      },
      // not async (nor the one below): an async handler adds a promise and a microtask turn to every poll
      handler: (req, reply) => {
        const seq = conditional(req, reply);
        if (seq === undefined) return void notModified(reply);
        const q = req.query;
        cached(reply, seq, req.url, () =>
          nics.repo.list(
            {
              ...(q.vm ? { vmUuid: q.vm.toLowerCase() } : {}),
              ...(q.uplink ? { uplink: q.uplink } : {}),
              ...(q.state ? { state: q.state } : {}),
              ...(q.type ? { typeName: q.type } : {}),
            },
            { limit: q.limit ?? 100, ...(q.offset !== undefined ? { offset: q.offset } : {}), ...(q.after !== undefined ? { after: q.after } : {}) },
          ),
        );
      },
    });

    app.get('/nics/:id', {
      config: { role: 'monitor' },
      schema: {
        tags,
        summary: 'One NIC: parameters pinned at its last request, state as lldpad last reported. ETag: If-None-Match → 304',
        params: IdParams,
        response: { 200: NicSchema },
      },
      handler: (req, reply) => {
        const seq = conditional(req, reply);
        if (seq === undefined) return void notModified(reply);
        cached(reply, seq, req.url, () => {
          const { id } = parseNicId(req.params.id, 'id');
          const nic = nics.repo.get(id);
          if (!nic) throw qbgError('QBG_ERR_NIC_NOT_FOUND', id);
          return nic;
        });
      },
    });

    app.get('/nics/:id/history', {
      config: { role: 'monitor' },
      schema: {
        tags,
        summary: "A NIC's transitions, oldest first (cursor: after=<seq>)",
        params: IdParams,
        querystring: HistoryQuery,
        response: { 200: Type.Object({ items: Type.Array(HistorySchema), total: Type.Integer() }) },
      },
      handler: async (req) => nics.repo.history(byId(req.params.id), { afterSeq: req.query.after ?? 0, limit: req.query.limit ?? 100 }),
    });

    app.post('/nics/associate', {
      config: { role: 'hook' },
      schema: {
        tags,
        summary: 'Associate / pre-associate a NIC (idempotent: a repeat answers without asking lldpad again)',
        description:
          '200 when lldpad accepted; 409 refused by the bridge, 502 refused by lldpad, 504 no answer — the NIC as recorded is in details.nic. A new vlan for a NIC lldpad holds is a filter change: the old filter is de-associated and the new one associated once the bridge has forgotten the old one (nics.filterChangeHoldSeconds, default 17 s; docs/filter-change.md). 409 QBG_ERR_NIC_FILTER_TAKEN: another VM\'s NIC has this MAC and VLAN on the uplink.',
        body: AssociateBody,
        response: { 200: AnswerSchema },
      },
      handler: async (req) => answerOrThrow(await nics.associate(req.body)),
    });

    app.post('/nics/observe', {
      config: { role: 'hook' },
      schema: {
        tags,
        summary: "A libvirt-owned NIC: record what lldpad holds for it after libvirt's own netlink request (qbg sends nothing)",
        description:
          "For hosts with ownership: libvirt (docs/ownership.md). lldpad is queried by instance UUID: held → associated / pre-associated; nothing held → disassociated (expect gone; a NIC qbg never saw held is recorded failed unless attachedWhileRunning) or failed with why (expect held); a VSI lldpad lists ungranted (libvirt's request timed out) → failed with why. qbg sends lldpad nothing for these NICs. 409 QBG_ERR_NIC_OWNER: the NIC is qbg's own.",
        body: ObserveBody,
        response: {
          200: Type.Object({
            nic: Type.Optional(NicSchema),
            held: Type.Optional(Type.Object({ mode: Type.String() }, { additionalProperties: true })),
            changed: Type.Boolean(),
          }),
        },
      },
      handler: async (req) => {
        const { expect, attachedWhileRunning, ...nic } = req.body;
        return nics.observe(nic, { expect: expect as 'held' | 'gone', cause: `libvirt-${expect === 'held' ? 'started' : 'stopped'}`, attachedWhileRunning });
      },
    });

    app.post('/nics/:id/disassociate', {
      config: { role: 'hook' },
      schema: { tags, summary: 'Disassociate a NIC (idempotent)', params: IdParams, response: { 200: AnswerSchema } },
      handler: async (req) => answerOrThrow(await nics.disassociate(byId(req.params.id))),
    });

    app.post('/nics/:id/reconcile', {
      config: { role: 'admin' },
      schema: {
        tags,
        summary: 'Repair: ask lldpad what it holds for this NIC and make it hold what it should',
        params: IdParams,
        response: { 200: Type.Object({ nic: NicSchema, asked: Type.Boolean(), changed: Type.Boolean() }) },
      },
      handler: async (req) => {
        const r = await nics.reconcile(byId(req.params.id), 'admin-reconcile');
        return { nic: r.answer?.nic ?? r.check.nic, asked: r.answer !== undefined, changed: r.check.changed || r.answer !== undefined };
      },
    });

    app.delete('/nics/:id', {
      config: { role: 'admin' },
      schema: {
        tags,
        summary: 'Repair: forget a NIC (its history stays)',
        description:
          'Only a NIC in state new or disassociated is forgotten as it is; any other state may have a VSI in lldpad behind it: 409 QBG_ERR_NIC_HELD naming the state, unless ?disassociate=true de-associates it first (errors of that de-associate as for POST /nics/:id/disassociate).',
        params: IdParams,
        querystring: DeleteQuery,
      },
      handler: async (req, reply) => {
        const id = byId(req.params.id);
        const r = await nics.forget(id, { disassociate: req.query.disassociate === true });
        if (r.answer) answerOrThrow(r.answer);
        if (r.nic.owner === 'qbg' && !FORGETTABLE_STATES.includes(r.nic.state)) throw new QbgError('QBG_ERR_NIC_HELD', qbgError('QBG_ERR_NIC_HELD', id, r.nic.state).message, { details: { nic: r.nic } });
        reply.status(204);
      },
    });

    if (reconciler) {
      app.post('/reconcile', {
        config: { role: 'admin' },
        schema: {
          tags,
          summary: 'Repair: sweep every NIC now (query lldpad per VSI, re-associate what is missing)',
          response: { 200: Type.Object({}, { additionalProperties: true }) },
        },
        handler: async () => reconciler.sweep('admin'),
      });
    }

    const mtags = ['Migration'];
    app.post('/migrations/:vmUuid/prepare', {
      config: { role: 'hook' },
      schema: { tags: mtags, summary: 'Destination: pre-associate (not RR) the NICs of an arriving VM; refused → rolled back', params: VmParams, body: PrepareBody, response: { 200: StepSchema } },
      handler: async (req) => stepOrThrow(await migration.prepare(req.params.vmUuid, req.body.nics)),
    });
    app.post('/migrations/:vmUuid/start', {
      config: { role: 'hook' },
      schema: { tags: mtags, summary: 'Destination: associate the prepared NICs (the VM runs here now)', params: VmParams, response: { 200: StepSchema } },
      handler: async (req) => stepOrThrow(await migration.start(req.params.vmUuid)),
    });
    app.post('/migrations/:vmUuid/stop', {
      config: { role: 'hook' },
      schema: { tags: mtags, summary: 'Source: disassociate the NICs of the VM that left', params: VmParams, response: { 200: StepSchema } },
      handler: async (req) => stepOrThrow(await migration.stop(req.params.vmUuid)),
    });
    app.post('/migrations/:vmUuid/rollback', {
      config: { role: 'hook' },
      schema: { tags: mtags, summary: 'Destination: the migration failed, drop what prepare/start made here (source untouched)', params: VmParams, response: { 200: StepSchema } },
      handler: async (req) => stepOrThrow(await migration.rollback(req.params.vmUuid)),
    });
  };
}
