// `qbg fleet`: the fleet (many hosts on one PostgreSQL) through the running qbg's API (role monitor).
//   qbg fleet status                   this host's part: PostgreSQL reachable, outbox depth, type copy, findings
//   qbg fleet nics [--host H] [--vm UUID] [--state S] [--type NAME] [--uplink IF] [--limit N] [--cursor C] [--all]
//   qbg fleet hosts                    every host: last seen, stale, outbox lag, NICs by state
// Exit codes: 0 done, 1 refused (no fleet configured, PostgreSQL unreachable: the message says which), 2 usage.
import { isQbgError } from '../domain/errors.js';
import type { FleetHost, FleetNic, FleetNicPage } from '../fleet/fleet-queries.js';
import type { FleetStatus } from '../fleet/fleet.js';
import { flagString, parseArgs, type FlagSpec } from './args.js';
import { callApi, printJsonOr, table, UsageError, type CliIo } from './io.js';

export const FLEET_HELP = `qbg fleet status [--json]
qbg fleet nics [--host NAME] [--vm UUID] [--state STATE] [--type NAME] [--uplink IF] [--limit 1-1000] [--cursor C]
               [--all] [--json]     --all follows the pages to the end (else: the next page's --cursor is printed)
qbg fleet hosts [--json]`;

const FLAGS: Record<string, Record<string, FlagSpec>> = {
  status: { json: { value: false } },
  nics: {
    host: { value: true },
    vm: { value: true },
    state: { value: true },
    type: { value: true },
    uplink: { value: true },
    limit: { value: true },
    cursor: { value: true },
    all: { value: false },
    json: { value: false },
  },
  hosts: { json: { value: false } },
};

function statusText(s: FleetStatus | { enabled: false }): string {
  if (!s.enabled) return 'fleet: off (this qbg stands alone; set fleet.postgres in the config or QBG_FLEET_URL)';
  const lines = [
    `fleet host ${s.host} on ${s.postgres}: ${s.reachable ? 'reachable' : `UNREACHABLE${s.lastError ? ` (${s.lastError})` : ''}`}`,
    `outbox: ${s.outbox.rows} change(s) waiting${s.outbox.oldestAt ? `, oldest from ${s.outbox.oldestAt}` : ''}; ${s.published} published since start${s.lastDrainAt ? `, last at ${s.lastDrainAt}` : ''}`,
    `VSI types: local copy at fleet revision ${s.typesRev}${s.typesSyncedAt ? `, checked ${s.typesSyncedAt}` : ''}`,
    `checks${s.checker ? ' (this host raises the events)' : ''}: ${Object.entries(s.findings).map(([k, v]) => `${k} ${v}`).join(', ')}`,
  ];
  return lines.join('\n');
}

export async function fleetCommand(args: string[], baseIo: CliIo): Promise<number> {
  const [verb, ...rest] = args;
  if (!verb || !(verb in FLAGS)) throw new UsageError(`qbg fleet: expected status, nics or hosts\n${FLEET_HELP}`);
  const p = parseArgs(rest, FLAGS[verb]);
  if (p.positionals.length) throw new UsageError(`qbg fleet ${verb} takes flags only, got ${p.positionals.join(' ')}`);
  const io = p.flags.json === true && !baseIo.json ? { ...baseIo, json: true } : baseIo;
  try {
    switch (verb) {
      case 'status': {
        const s = await callApi<FleetStatus | { enabled: false }>(io, 'GET', '/fleet/status');
        printJsonOr(io, s, () => statusText(s));
        return 0;
      }
      case 'nics': {
        const q = new URLSearchParams();
        for (const k of ['host', 'vm', 'state', 'type', 'uplink', 'limit', 'cursor']) {
          const v = flagString(p, k);
          if (v !== undefined) q.set(k, v);
        }
        const items: FleetNic[] = [];
        let page: FleetNicPage;
        do {
          page = await callApi<FleetNicPage>(io, 'GET', `/fleet/nics${q.size ? `?${q}` : ''}`);
          items.push(...page.items);
          if (page.next) q.set('cursor', page.next);
        } while (p.flags.all === true && page.next);
        const out: FleetNicPage = p.flags.all === true || !page.next ? { items } : { items, next: page.next };
        printJsonOr(io, out, () => {
          const rows = items.map((n) => ({ host: n.host, id: n.id, state: n.state, owner: n.owner, uplink: n.uplink, type: `${n.typeName}@${n.typeIdVersion}`, vlan: n.vlan, reason: n.reason }));
          return `${table(rows, ['host', 'id', 'state', 'owner', 'uplink', 'type', 'vlan', 'reason'])}\n${items.length} NIC(s)${out.next ? ` (more: --cursor ${out.next})` : ''}`;
        });
        return 0;
      }
      case 'hosts': {
        const { hosts } = await callApi<{ hosts: FleetHost[] }>(io, 'GET', '/fleet/hosts');
        printJsonOr(io, { hosts }, () =>
          table(
            hosts.map((h) => ({
              host: h.host,
              seen: `${h.secondsSinceSeen} s ago${h.stale ? ' STALE' : ''}`,
              outbox: h.outboxRows ? `${h.outboxRows} (${h.outboxLagSeconds} s)` : '0',
              nics: Object.entries(h.nics).map(([s, n]) => `${s} ${n}`).join(', ') || '-',
            })),
            ['host', 'seen', 'outbox', 'nics'],
          ),
        );
        return 0;
      }
    }
  } catch (e) {
    if (!isQbgError(e)) throw e;
    if (io.json) io.out(JSON.stringify(e.toJSON(), null, 2));
    else io.err(`qbg fleet ${verb}: ${e.field ? `${e.field}: ` : ''}${e.message}`);
    return 1;
  }
  return 0;
}
