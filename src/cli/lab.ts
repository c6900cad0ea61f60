// `qbg lab`: a bridge and stations with real lldpads in network namespaces on this machine (lldpad/lab.sh), for
// trying qbg without switches. Runs locally (needs root), not through the API.
//   qbg lab up [--id ID] [--stations N] [--bridge lldpad|none] [--station-evb] [--json]
//   qbg lab status --id ID [--json]
//   qbg lab down --id ID | --all
import { labDown, labDownAll, labStatus, labUp, type LabInfo } from '../lab/lab.js';
import { parseArgs, flagString } from './args.js';
import { printJsonOr, UsageError, type CliIo } from './io.js';

export const LAB_HELP = `qbg lab up [--id ID] [--stations 1..8] [--bridge lldpad|none] [--station-evb]
qbg lab status --id ID
qbg lab down --id ID | --all

Namespaces qbg-ID-br and qbg-ID-st1..N; each station's uplink is s0. Without --station-evb the station lldpads
start unconfigured: configure them with "qbg uplink set s0 --netns qbg-ID-st1" and "qbg uplink apply s0".
Logs: /run/qbg-lab/ID/<ns>.log. Needs root and the lldpad package.`;

function human(l: LabInfo): string {
  return [
    `lab ${l.id} (state ${l.stateDir})`,
    `  bridge ${l.bridge.netns}: ${l.bridge.mode === 'lldpad' ? `lldpad pid ${l.bridge.lldpadPid ?? 'not running'}` : 'no lldpad'}, ports ${l.bridge.ports.join(' ')}`,
    ...l.stations.map(
      (s) => `  station ${s.name} ${s.netns}: uplink ${s.uplink} ${s.mac} ↔ ${s.bridgePort}, lldpad pid ${s.lldpadPid ?? 'not running'}`,
    ),
  ].join('\n');
}

function needId(id: string | undefined, sub: string): string {
  if (!id) throw new UsageError(`qbg lab ${sub} needs --id ID`);
  return id;
}

export async function labCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'up': {
      const p = parseArgs(rest, { id: { value: true }, stations: { value: true }, bridge: { value: true }, 'station-evb': { value: false } });
      const stations = flagString(p, 'stations');
      if (stations !== undefined && !/^\d+$/.test(stations)) throw new UsageError(`--stations must be 1–8, got "${stations}"`);
      const bridge = flagString(p, 'bridge');
      if (bridge !== undefined && bridge !== 'lldpad' && bridge !== 'none') throw new UsageError(`--bridge must be lldpad or none, got "${bridge}"`);
      const lab = await labUp({
        id: flagString(p, 'id'),
        stations: stations === undefined ? undefined : Number(stations),
        bridge,
        stationEvb: p.flags['station-evb'] === true,
      });
      printJsonOr(io, lab, () => human(lab));
      return 0;
    }
    case 'status': {
      const p = parseArgs(rest, { id: { value: true } });
      const lab = await labStatus(needId(flagString(p, 'id'), 'status'));
      printJsonOr(io, lab, () => human(lab));
      return 0;
    }
    case 'down': {
      const p = parseArgs(rest, { id: { value: true }, all: { value: false } });
      if (p.flags.all === true) {
        await labDownAll();
        printJsonOr(io, { down: 'all' }, () => 'every qbg lab removed');
        return 0;
      }
      const id = needId(flagString(p, 'id'), 'down');
      await labDown(id);
      printJsonOr(io, { id, down: true }, () => `lab ${id} removed`);
      return 0;
    }
    default:
      throw new UsageError(sub ? `unknown lab subcommand "${sub}" (up, status, down)` : 'qbg lab needs a subcommand: up, status, down');
  }
}
