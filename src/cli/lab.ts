// `qbg lab`: a bridge and stations with real lldpads in network namespaces on this machine (lldpad/lab.sh), for
// trying qbg without switches. Runs locally (needs root), not through the API.
//   qbg lab up [--id ID] [--stations N] [--bridge lldpad|none] [--station-evb] [--uplink veth|vxlan]
//              [--libvirt [--hook-url URL] [--on-qbg-down fail|allow]] [--json]
//   qbg lab status --id ID [--json]
//   qbg lab down --id ID | --all
import { join } from 'node:path';
import { labDown, labDownAll, labStartLibvirtd, labStatus, labUp, type LabInfo } from '../lab/lab.js';
import { parseArgs, flagString } from './args.js';
import { hookCommand } from './hook.js';
import { printJsonOr, UsageError, type CliIo } from './io.js';

export const LAB_HELP = `qbg lab up [--id ID] [--stations 1..8] [--bridge lldpad|none] [--station-evb] [--uplink veth|vxlan]
           [--libvirt [--hook-url URL] [--on-qbg-down fail|allow]]
qbg lab status --id ID
qbg lab down --id ID | --all

Namespaces qbg-ID-br and qbg-ID-st1..N; each station's uplink is s0. Without --station-evb the station lldpads
start unconfigured: configure them with "qbg uplink set s0 --netns qbg-ID-st1" and "qbg uplink apply s0".
--uplink vxlan: s0 is a vxlan over a veth underlay (169.254.77.0/30 per station) instead of a veth.
--libvirt (implies --uplink vxlan): each station also runs its own libvirtd in its namespace, with a private
/run, /etc/libvirt, /var/lib/libvirt and qbg's qemu hook installed first ("qbg hook install", calling
--hook-url, default the global --url, from inside the station's namespace; --on-qbg-down default allow, as a lab
usually runs no qbg). Use it with: virsh -c "<uri printed per station>". Needs libvirt-daemon,
libvirt-daemon-driver-qemu, qemu-system-x86 and gcc (.ci/install-deps); guests run in TCG, no KVM needed.
Logs: /run/qbg-lab/ID/<ns>.log, <ns>.libvirtd.log. Needs root and the lldpad package.`;

function human(l: LabInfo): string {
  return [
    `lab ${l.id} (state ${l.stateDir})`,
    `  bridge ${l.bridge.netns}: ${l.bridge.mode === 'lldpad' ? `lldpad pid ${l.bridge.lldpadPid ?? 'not running'}` : 'no lldpad'}, ports ${l.bridge.ports.join(' ')}`,
    ...l.stations.map(
      (s) =>
        `  station ${s.name} ${s.netns}: uplink ${s.uplink} ${s.mac} ↔ ${s.bridgePort} (${l.uplinkKind}), lldpad pid ${s.lldpadPid ?? 'not running'}` +
        (s.libvirt ? `\n    libvirtd pid ${s.libvirt.libvirtdPid ?? 'not running'}: virsh -c '${s.libvirt.uri}'` : ''),
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
      const p = parseArgs(rest, {
        id: { value: true },
        stations: { value: true },
        bridge: { value: true },
        'station-evb': { value: false },
        uplink: { value: true },
        libvirt: { value: false },
        'hook-url': { value: true },
        'on-qbg-down': { value: true },
      });
      const stations = flagString(p, 'stations');
      if (stations !== undefined && !/^\d+$/.test(stations)) throw new UsageError(`--stations must be 1–8, got "${stations}"`);
      const bridge = flagString(p, 'bridge');
      if (bridge !== undefined && bridge !== 'lldpad' && bridge !== 'none') throw new UsageError(`--bridge must be lldpad or none, got "${bridge}"`);
      const uplink = flagString(p, 'uplink');
      if (uplink !== undefined && uplink !== 'veth' && uplink !== 'vxlan') throw new UsageError(`--uplink must be veth or vxlan, got "${uplink}"`);
      const libvirt = p.flags.libvirt === true;
      if (libvirt && uplink === 'veth') throw new UsageError('--libvirt needs a vxlan uplink: libvirt cannot use a veth as a macvtap uplink');
      const onDown = flagString(p, 'on-qbg-down') ?? 'allow';
      if (onDown !== 'fail' && onDown !== 'allow') throw new UsageError(`--on-qbg-down must be fail or allow, got "${onDown}"`);
      if (!libvirt && (flagString(p, 'hook-url') !== undefined || flagString(p, 'on-qbg-down') !== undefined))
        throw new UsageError('--hook-url and --on-qbg-down configure the hook of --libvirt labs only');
      let lab = await labUp({
        id: flagString(p, 'id'),
        stations: stations === undefined ? undefined : Number(stations),
        bridge,
        stationEvb: p.flags['station-evb'] === true,
        uplink,
        libvirt,
      });
      if (libvirt) lab = await startLibvirtds(lab, flagString(p, 'hook-url') ?? io.baseUrl, onDown, io);
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

/** qbg's hook first (libvirtd looks for hooks/qemu only when it starts), then each station's libvirtd. */
async function startLibvirtds(lab: LabInfo, hookUrl: string, onDown: string, io: CliIo): Promise<LabInfo> {
  for (const st of lab.stations) {
    if (!st.libvirt) throw new UsageError(`lab ${lab.id} exists without libvirt: bring it down first or use another --id`);
    if (st.libvirt.libvirtdPid !== null) continue;
    const etc = join(st.libvirt.root, 'etc');
    const argv = ['install', '--libvirt', '--dir', join(etc, 'hooks'), '--config', join(etc, 'qbg-hook.json'), '--url', hookUrl, '--on-qbg-down', onDown];
    await hookCommand(argv, { ...io, json: true, out: () => {} });
    lab = await labStartLibvirtd(lab.id, st.name);
  }
  return lab;
}
