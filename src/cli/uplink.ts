// `qbg uplink`: the EVB configuration of the uplinks, through the running qbg's API.
//   qbg uplink status [NAME] [--json]      desired vs actual, peer EVB seen, what the bridge advertised
//   qbg uplink set NAME key=value …        store the desired config (keys as in the API: ecpRte=9 evbTx=true …)
//   qbg uplink apply NAME [--json]         apply it to lldpad now
//   qbg uplink delete NAME
import type { UplinkStatus, ApplyReport } from '../service/uplink-manager.js';
import type { EvbSettingChange } from '../domain/evb-config.js';
import { describeChanges } from '../domain/evb-config.js';
import { parseArgs } from './args.js';
import { callApi, printJsonOr, table, UsageError, type CliIo } from './io.js';

export const UPLINK_HELP = `qbg uplink status [NAME] [--json]
qbg uplink set NAME [--netns NS] key=value …
qbg uplink apply NAME [--json]
qbg uplink delete NAME

Keys for set: adminStatus=rx|tx|rxtx|disabled evbTx=true|false role=station|bridge gpid=true|false
reflectiveRelay=true|false ecpRetries=0..7 ecpRte=0..31 vdpRka=0..31 vdpRwd=0..31. Left-out keys take the
defaults (LLDP rxtx, EVB on, role station, ECP retries 7 and RTE 9 so a busy host loses no frame, lldpad's VDP
timers; docs/ecp.md). "set" only stores; "apply" (or the periodic drift
check) brings lldpad in line.`;

const enc = encodeURIComponent;

function yesNo(b: boolean | undefined): string {
  return b === undefined ? '-' : b ? 'yes' : 'no';
}

function statusLines(s: UplinkStatus): string {
  const lines = [
    `uplink ${s.uplink}${s.netns ? ` (netns ${s.netns})` : ''}: ${s.error ? `lldpad unreachable: ${s.error.message}` : s.inSync ? 'in sync' : `differs: ${describeChanges(s.diff)}`}`,
    `  lldpad pid ${s.lldpadPid ?? '-'}, bridge EVB TLV ${s.peerEvbSeen ? 'received' : 'not received'}`,
  ];
  if (s.bridge)
    lines.push(
      `  bridge advertises: group id ${yesNo(s.bridge.groupId)}, reflective relay capable ${yesNo(s.bridge.reflectiveRelayCapable)}, on ${yesNo(s.bridge.reflectiveRelayOn)}, retries ${s.bridge.ecpRetries}, RTE ${s.bridge.ecpRte}, RWD ${s.bridge.vdpRwd}, RKA ${s.bridge.vdpRka}`,
    );
  if (s.negotiated)
    lines.push(
      `  negotiated: retries ${s.negotiated.ecpRetries}, RTE ${s.negotiated.ecpRte}, RWD ${s.negotiated.vdpRwd}, RKA ${s.negotiated.vdpRka}, reflective relay ${s.negotiated.reflectiveRelayStatus}`,
    );
  return lines.join('\n');
}

/** key=value words into a JSON body; numbers and booleans typed so the API's schema sees what the user meant. */
function settingsFromWords(words: string[]): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new UsageError(`expected key=value, got "${w}"`);
    const k = w.slice(0, eq);
    const v = w.slice(eq + 1);
    body[k] = /^\d+$/.test(v) ? Number(v) : v === 'true' || v === 'yes' ? true : v === 'false' || v === 'no' ? false : v;
  }
  return body;
}

function need(name: string | undefined, what: string): string {
  if (!name) throw new UsageError(`qbg uplink ${what} needs the uplink NAME`);
  return name;
}

function changesText(c: EvbSettingChange[]): string {
  return c.length === 0 ? 'nothing to change' : describeChanges(c);
}

export async function uplinkCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'status': {
      const p = parseArgs(rest, {});
      const name = p.positionals[0];
      if (name) {
        const s = await callApi<UplinkStatus>(io, 'GET', `/uplinks/${enc(name)}`);
        printJsonOr(io, s, () => statusLines(s));
        return 0;
      }
      const { uplinks } = await callApi<{ uplinks: UplinkStatus[] }>(io, 'GET', '/uplinks');
      printJsonOr(io, { uplinks }, () =>
        table(
          uplinks.map((s) => ({
            uplink: s.uplink,
            netns: s.netns,
            state: s.error ? 'unreachable' : s.inSync ? 'in-sync' : 'differs',
            lldpad: s.lldpadPid,
            peerEvb: s.peerEvbSeen ? 'yes' : 'no',
            bridgeRR: s.bridge ? yesNo(s.bridge.reflectiveRelayCapable) : '-',
            diff: s.diff.length ? describeChanges(s.diff) : '',
          })),
          ['uplink', 'netns', 'state', 'lldpad', 'peerEvb', 'bridgeRR', 'diff'],
        ),
      );
      return 0;
    }
    case 'set': {
      const p = parseArgs(rest, { netns: { value: true } });
      const [name, ...words] = p.positionals;
      const body = settingsFromWords(words);
      if (typeof p.flags.netns === 'string') body.netns = p.flags.netns;
      const cfg = await callApi(io, 'PUT', `/uplinks/${enc(need(name, 'set'))}`, body);
      printJsonOr(io, cfg, () => `uplink ${name}: desired config stored (run "qbg uplink apply ${name}" to apply now)`);
      return 0;
    }
    case 'apply': {
      const p = parseArgs(rest, {});
      const name = need(p.positionals[0], 'apply');
      const r = await callApi<ApplyReport>(io, 'POST', `/uplinks/${enc(name)}/apply`);
      printJsonOr(io, r, () =>
        [
          `uplink ${name}: ${changesText(r.changed)}`,
          ...(r.remaining.length ? [`  lldpad did not keep: ${describeChanges(r.remaining)}`] : []),
          ...(r.restartNeeded ? ['  the EVB role changed: restart lldpad for VDP to use it'] : []),
          statusLines(r.status),
        ].join('\n'),
      );
      return r.remaining.length === 0 ? 0 : 1;
    }
    case 'delete': {
      const p = parseArgs(rest, {});
      const name = need(p.positionals[0], 'delete');
      await callApi(io, 'DELETE', `/uplinks/${enc(name)}`);
      printJsonOr(io, { uplink: name, deleted: true }, () => `uplink ${name}: desired config removed`);
      return 0;
    }
    default:
      throw new UsageError(sub ? `unknown uplink subcommand "${sub}" (status, set, apply, delete)` : 'qbg uplink needs a subcommand: status, set, apply, delete');
  }
}
