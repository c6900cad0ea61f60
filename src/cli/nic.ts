// `qbg nic`: VM NICs and their associations through the running qbg's API (same roles and validation).
//   qbg nic list [--vm UUID] [--uplink IF] [--state S] [--type NAME] [--limit N] [--after CURSOR] [--offset N]
//   qbg nic show ID                      ID = "<vm uuid>_<mac>"
//   qbg nic history ID [--after SEQ] [--limit N]
//   qbg nic associate --vm UUID --mac MAC --uplink IF --type NAME --vlan N [--version N] [--instance UUID]
//                     [--mode assoc|preassoc|preassoc-rr]
//   qbg nic disassociate ID
//   qbg nic delete ID [--disassociate]   forget a NIC; one lldpad may hold is refused unless --disassociate
// Exit codes: 0 done, 1 refused (by qbg, lldpad or the bridge: the message says which), 2 usage.
import { isQbgError } from '../domain/errors.js';
import type { Nic, NicHistoryEntry } from '../domain/nic.js';
import { flagString, parseArgs, requireFlags, type FlagSpec, numberOrText } from './args.js';
import { callApi, printJsonOr, table, UsageError, type CliIo } from './io.js';

export const NIC_HELP = `qbg nic list [--vm UUID] [--uplink IF] [--state STATE] [--type NAME] [--limit 1-1000] [--after CURSOR] [--json]
qbg nic show ID [--json]                 ID is "<vm uuid>_<mac>"
qbg nic history ID [--after SEQ] [--limit 1-1000] [--json]
qbg nic associate --vm UUID --mac MAC --uplink IF --type NAME --vlan 0-4095 [--version 0-255]
                  [--instance UUID] [--mode assoc|preassoc|preassoc-rr] [--json]
qbg nic disassociate ID [--json]
qbg nic delete ID [--disassociate] [--json]
                  forget a NIC (history stays); a NIC lldpad may hold is refused unless --disassociate
                  de-associates it first
A new --vlan for an associated NIC is a filter change: qbg drops the old filter and waits until the bridge has
forgotten it (nics.filterChangeHoldSeconds, default 17 s) before it associates the new one.`;

const enc = encodeURIComponent;

interface Answer {
  nic: Nic;
  asked: boolean;
}

const FLAGS: Record<string, Record<string, FlagSpec>> = {
  list: { vm: { value: true }, uplink: { value: true }, state: { value: true }, type: { value: true }, limit: { value: true }, after: { value: true }, offset: { value: true }, json: { value: false } },
  show: { json: { value: false } },
  history: { after: { value: true }, limit: { value: true }, json: { value: false } },
  associate: {
    vm: { value: true },
    mac: { value: true },
    uplink: { value: true },
    type: { value: true },
    vlan: { value: true },
    version: { value: true },
    instance: { value: true },
    mode: { value: true },
    json: { value: false },
  },
  disassociate: { json: { value: false } },
  delete: { disassociate: { value: false }, json: { value: false } },
};

function oneId(positionals: string[], verb: string): string {
  if (positionals.length !== 1) throw new UsageError(`qbg nic ${verb} needs exactly one NIC id ("<vm uuid>_<mac>")`);
  return positionals[0];
}

function nicLine(n: Nic): string {
  const reason = n.reason ? `  (${n.reason})` : '';
  return `${n.id}: ${n.state} on ${n.uplink}, owner ${n.owner}, type ${n.typeName} v${n.typeIdVersion}, vlan ${n.vlan}${n.bridgeVlan !== undefined ? ` (bridge assigned ${n.bridgeVlan})` : ''}, instance ${n.instanceUuid}${reason}`;
}

export async function nicCommand(args: string[], baseIo: CliIo): Promise<number> {
  const [verb, ...rest] = args;
  if (!verb || !(verb in FLAGS)) throw new UsageError(`qbg nic: expected list, show, history, associate, disassociate or delete\n${NIC_HELP}`);
  const p = parseArgs(rest, FLAGS[verb]);
  const io = p.flags.json === true && !baseIo.json ? { ...baseIo, json: true } : baseIo;
  try {
    switch (verb) {
      case 'list': {
        const q = new URLSearchParams();
        for (const k of ['vm', 'uplink', 'state', 'type', 'limit', 'after', 'offset']) {
          const v = flagString(p, k);
          if (v !== undefined) q.set(k, v);
        }
        const page = await callApi<{ items: Nic[]; total: number; limit: number; next?: string }>(io, 'GET', `/nics${q.size ? `?${q}` : ''}`);
        printJsonOr(io, page, () => {
          const rows = page.items.map((n) => ({ id: n.id, owner: n.owner, state: n.state, uplink: n.uplink, type: `${n.typeName}@${n.typeIdVersion}`, vlan: n.bridgeVlan !== undefined ? `0→${n.bridgeVlan}` : n.vlan, reason: n.reason }));
          // the cursor, not an offset: the next page is as fast as the first however deep it is
          const more = page.next !== undefined ? ` (more: --after ${page.next})` : '';
          return `${table(rows, ['id', 'owner', 'state', 'uplink', 'type', 'vlan', 'reason'])}\n${page.items.length} of ${page.total}${more}`;
        });
        return 0;
      }
      case 'show': {
        const nic = await callApi<Nic>(io, 'GET', `/nics/${enc(oneId(p.positionals, verb))}`);
        printJsonOr(io, nic, () => nicLine(nic));
        return 0;
      }
      case 'history': {
        const q = new URLSearchParams();
        for (const k of ['after', 'limit']) {
          const v = flagString(p, k);
          if (v !== undefined) q.set(k, v);
        }
        const h = await callApi<{ items: NicHistoryEntry[]; total: number }>(io, 'GET', `/nics/${enc(oneId(p.positionals, verb))}/history${q.size ? `?${q}` : ''}`);
        printJsonOr(io, h, () =>
          table(
            h.items.map((e) => ({ seq: e.seq, at: e.at, from: e.from, to: e.to, cause: e.cause, reason: e.reason })),
            ['seq', 'at', 'from', 'to', 'cause', 'reason'],
          ),
        );
        return 0;
      }
      case 'associate': {
        if (p.positionals.length) throw new UsageError(`qbg nic associate takes flags only, got ${p.positionals.join(' ')}`);
        // said in the CLI's words (--mac), not the API's ("body mac"), and as a usage error: nothing was asked
        requireFlags(p, ['vm', 'mac', 'uplink', 'type', 'vlan']);
        const body: Record<string, unknown> = {};
        for (const [flag, field, numeric] of [
          ['vm', 'vmUuid', false],
          ['mac', 'mac', false],
          ['uplink', 'uplink', false],
          ['type', 'type', false],
          ['vlan', 'vlan', true],
          ['version', 'version', true],
          ['instance', 'instanceUuid', false],
          ['mode', 'mode', false],
        ] as const) {
          const v = flagString(p, flag);
          if (v !== undefined) body[field] = numeric ? numberOrText(v) : v;
        }
        const a = await callApi<Answer>(io, 'POST', '/nics/associate', body);
        printJsonOr(io, a, () => `${nicLine(a.nic)}${a.asked ? '' : ' (already so: lldpad not asked again)'}`);
        return 0;
      }
      case 'disassociate': {
        const a = await callApi<Answer>(io, 'POST', `/nics/${enc(oneId(p.positionals, verb))}/disassociate`);
        printJsonOr(io, a, () => nicLine(a.nic));
        return 0;
      }
      case 'delete': {
        const id = oneId(p.positionals, verb);
        await callApi<unknown>(io, 'DELETE', `/nics/${enc(id)}${p.flags.disassociate === true ? '?disassociate=true' : ''}`);
        printJsonOr(io, { id, forgotten: true }, () => `${id}: forgotten`);
        return 0;
      }
    }
  } catch (e) {
    if (!isQbgError(e)) throw e;
    if (io.json) io.out(JSON.stringify(e.toJSON(), null, 2));
    else io.err(`qbg nic ${verb}: ${e.field ? `${e.field}: ` : ''}${e.message}`);
    return 1;
  }
  return 0;
}
