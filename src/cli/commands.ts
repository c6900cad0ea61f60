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
];
