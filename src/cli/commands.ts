// The table of `qbg` subcommands: one line of help each, loaded lazily so `qbg xml` never opens SQLite.
import type { CliIo } from './io.js';
import { NIC_HELP } from './nic.js';
import { FLEET_HELP } from './fleet.js';

export type CommandRunner = (args: string[], io: CliIo) => Promise<number>;

export interface CommandEntry {
  name: string;
  usage: string;
  summary: string;
  help: string;
  load: () => Promise<CommandRunner>;
}

export const COMMANDS: CommandEntry[] = [
  {
    name: 'serve',
    usage: 'serve [--config FILE] [--insecure-no-auth]',
    summary: 'run the qbg service (API, reconciler, lldpad configuration)',
    help: `qbg serve [--config FILE] [--insecure-no-auth]

Runs the service in the foreground. Configuration: FILE, else $QBG_CONFIG, else /etc/qbg/config.yaml if present,
then environment overrides (QBG_HOST, QBG_PORT, QBG_SOCKET, QBG_INSECURE_NO_AUTH, QBG_DB, QBG_LOG_LEVEL,
QBG_ADMIN_TOKENS, QBG_HOOK_TOKENS, QBG_MONITOR_TOKENS, QBG_LLDPAD_NETNS, QBG_LLDPAD_TRANSPORT, QBG_FLEET_URL,
QBG_FLEET_HOST). Defaults need no setup: SQLite at /var/lib/qbg/qbg.db (root) or ~/.local/share/qbg/qbg.db,
listening on 127.0.0.1:8021. Prints every address it listens on. Stops gracefully on SIGTERM/SIGINT.

With no tokens configured every caller is admin, so qbg listens only on loopback and the root-only unix socket:
a host that is not loopback is refused at start until tokens are set. --insecure-no-auth (listen.insecureNoAuth)
lets a closed lab listen on the network without tokens anyway, with a warning.`,
    load: async () => (await import('./serve.js')).serveCommand,
  },
  {
    name: 'uplink',
    usage: 'uplink status|set|apply|delete [NAME]',
    summary: 'EVB configuration of the uplinks in lldpad: desired vs actual, apply',
    help: `qbg uplink status [NAME] [--json]
qbg uplink set NAME [--netns NS] key=value …   (adminStatus evbTx role gpid reflectiveRelay ecpRetries ecpRte vdpRka vdpRwd)
qbg uplink apply NAME [--json]
qbg uplink delete NAME`,
    load: async () => (await import('./uplink.js')).uplinkCommand,
  },
  {
    name: 'profile',
    usage: 'profile list|show|add|edit|rm|import|export',
    summary: 'VSI types (profiles): versions, profile files, import/export',
    help: `qbg profile list [--json]
qbg profile show NAME [--type-version N]
qbg profile add --file FILE | --name NAME (--manager-id 0-255 | --manager-id2 ID) --type-id 0-16777215
                --type-version 0-255 [--filter-format vlan-mac|vlan-mac-group|vlan|vlan-group] [--vlans 100,200-210]
                [--group-id N] [--description TEXT]
qbg profile edit NAME [same flags as add without --name; a change of parameters makes a new version]
                [--base-version N]   refuse (409) if the type is no longer at version N
qbg profile rm NAME [--base-version N]
qbg profile import DIR|FILE        *.yaml/*.yml/*.json, one VSI type per file; all or nothing: every bad
                                   field of every file is listed, and a type version found in two files too
qbg profile export DIR [--all-versions] [--format yaml|json]`,
    load: async () => (await import('./profile.js')).profileCommand,
  },
  {
    name: 'lab',
    usage: 'lab up|status|down [--id ID]',
    summary: 'a local lab: bridge + stations with real lldpads in network namespaces (root)',
    help: `qbg lab up [--id ID] [--stations 1..8] [--bridge lldpad|none] [--station-evb] [--json]
qbg lab status --id ID [--json]
qbg lab down --id ID | --all`,
    load: async () => (await import('./lab.js')).labCommand,
  },
  {
    name: 'nic',
    usage: 'nic list|show|history|associate|disassociate|delete',
    summary: 'VM NICs: association state, history, associate (also to a new VLAN)/disassociate, forget',
    help: NIC_HELP,
    load: async () => (await import('./nic.js')).nicCommand,
  },
  {
    name: 'fleet',
    usage: 'fleet status|nics|hosts',
    summary: 'many hosts on one PostgreSQL: every VM NIC anywhere, every host, this host\'s outbox',
    help: FLEET_HELP,
    load: async () => (await import('./fleet.js')).fleetCommand,
  },
  {
    name: 'xml',
    usage: 'xml interface|interface-network|network|rewrite|merge|check …',
    summary: 'libvirt XML: 802.1Qbg interfaces, VEPA networks, domain rewrite, merge check, would libvirt define it',
    help: `qbg xml <interface|interface-network|network|rewrite|merge|check> [options]

  interface          --profile NAME[@VERSION] --uplink DEV --mac MAC [--vm-uuid UUID]
                     [--mode vepa|bridge|private|passthrough] [--profile-version N] [--model virtio] [--instance-id UUID]
                     <interface type='direct'> (macvtap) carrying the profile's 802.1Qbg virtualport
  interface-network  --network NAME [--portgroup NAME] --mac MAC [--vm-uuid UUID] [--instance-id UUID] [--model M]
                     [--profile NAME[@VERSION] [--profile-version N]]
                     <interface type='network'> for a VEPA network
  network            --name NAME --uplink DEV [--uplink DEV…] --portgroup NAME=PROFILE[@VERSION] […]
                     [--default-portgroup NAME] [--uuid UUID]
                     <network> with <forward mode='vepa'> and one portgroup per profile
  network FILE|-     a <network> read and written back the way libvirt writes it (virsh net-dumpxml after
                     net-define): libvirt's element order, quoting and indentation, numbers in decimal, a <uuid>
                     (made up when absent, as libvirt does); macvtap-family networks. Runs locally, no service.
  rewrite [FILE|-]   [--vm-uuid UUID] [--network NAME=FILE …]
                     a domain XML (file or stdin) with qbg's NICs completed; XML on stdout, the changes on stderr
                     (--json: {xml, changes} on stdout). NICs are named in the domain metadata:
                       <qbg:nics xmlns:qbg="https://qbg.example/xmlns/1"><qbg:nic mac="…" profile="web-tier"/></qbg:nics>
  merge              --interface FILE --network FILE
                     the virtualport libvirt will use for that interface (fails on conflicting levels)
  check [FILE|-]     [--kind domain|network|networkport] [--network FILE]
                     would libvirt define this domain / network (create this network port on --network FILE)?
                     A domain with --network FILE: would \`virsh start\` accept its type='network' NICs on that
                     network (virtualports merged with the network's and portgroup's, type vs forward mode, VLAN)?
                     exit 0 yes; 1 no, one line per violation: rule id, element, why. Runs locally, no service.`,
    load: async () => (await import('./xml.js')).xmlCommand,
  },
  {
    name: 'explain',
    usage: 'explain DOMAIN.xml|- [--default-uplink DEV] [--json]',
    summary: 'what qbg would do for each NIC of a domain, and what would make its start fail, before it is tried',
    help: `qbg explain DOMAIN.xml|- [--default-uplink DEV] [--json]

Asks the running qbg (POST /explain). For each NIC: who announces its VSI (the host's ownership in qbg's config:
qbg — the hook associates it through lldpad; libvirt — libvirt itself over netlink, from the interface's 802.1Qbg
virtualport), its VSI type and version, VLAN and uplink. Then every finding that would make the start fail, each
with a stable code, the field and what to do: libvirt-refuses, type-unknown, type-version-unknown,
vlan-not-allowed, uplink-unreadable, uplink-evb-not-negotiated, bridge-no-reflective-relay, lldpad-down,
libvirt-netlink-lost (libvirt 9.0 without the netlink port shim), owner-conflict and virtualport-missing (a NIC
that does not fit the host's ownership); and warnings (uplink-unknown, libvirtd-unknown, a libvirt-owned NIC of a
type or VLAN qbg's type database does not know).
--default-uplink: the hook's defaultUplink, for NICs without <source dev>.
Exit 0 when nothing would fail (warnings allowed), 1 when something would, 2 for usage.`,
    load: async () => (await import('./explain.js')).explainCommand,
  },
  {
    name: 'hook',
    usage: 'hook install [--libvirt] [--vdsm] [--dir D] …',
    summary: 'install the libvirt qemu / vdsm hooks that associate VM NICs through qbg',
    help: `qbg hook install [--libvirt] [--vdsm] [--dir D] [--vdsm-dir D] [--drop-in] [--force] [--config FILE]
                 [--url URL] [--token-file FILE] [--on-qbg-down fail|allow] [--timeout-ms N] [--default-uplink IF]
Writes /etc/libvirt/hooks/qemu (or D/qemu, or D/qemu.d/50-qbg with --drop-in) and/or the vdsm hooks
(/usr/libexec/vdsm/hooks/<hook>/50_qbg), plus the hook config (default /etc/qbg/hook.json). See docs/hooks.md.`,
    load: async () => (await import('./hook.js')).hookCommand,
  },
];
