// The table of `qbg` subcommands: one line of help each, loaded lazily so `qbg xml` never opens SQLite.
import type { CliIo } from './io.js';

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
    usage: 'serve [--config FILE]',
    summary: 'run the qbg service (API, reconciler, lldpad configuration)',
    help: `qbg serve [--config FILE]

Runs the service in the foreground. Configuration: FILE, else $QBG_CONFIG, else /etc/qbg/config.yaml if present,
then environment overrides (QBG_HOST, QBG_PORT, QBG_SOCKET, QBG_DB, QBG_LOG_LEVEL, QBG_ADMIN_TOKENS,
QBG_HOOK_TOKENS, QBG_MONITOR_TOKENS, QBG_LLDPAD_NETNS, QBG_LLDPAD_TRANSPORT). Defaults need no setup: SQLite at
/var/lib/qbg/qbg.db (root) or ~/.local/share/qbg/qbg.db, listening on 127.0.0.1:8021. Stops gracefully on
SIGTERM/SIGINT.`,
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
    name: 'lab',
    usage: 'lab up|status|down [--id ID]',
    summary: 'a local lab: bridge + stations with real lldpads in network namespaces (root)',
    help: `qbg lab up [--id ID] [--stations 1..8] [--bridge lldpad|none] [--station-evb] [--json]
qbg lab status --id ID [--json]
qbg lab down --id ID | --all`,
    load: async () => (await import('./lab.js')).labCommand,
  },
];
