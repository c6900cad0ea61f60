// `qbg serve`: run the service in the foreground until SIGTERM/SIGINT, then stop gracefully.
import { DEFAULT_SOCKET_PATH, loadConfig } from '../config.js';
import { createService } from '../service/app.js';
import { parseArgs, flagString } from './args.js';
import type { CliIo } from './io.js';

export async function serveCommand(args: string[], io: CliIo): Promise<number> {
  const p = parseArgs(args, { config: { value: true }, 'insecure-no-auth': { value: false } });
  const config = loadConfig({ path: flagString(p, 'config') });
  if (p.flags['insecure-no-auth'] === true) config.listen.insecureNoAuth = true;
  // Loopback and, for root (a hypervisor service), a root-only unix socket by default; listen.socket "" turns it off.
  if (config.listen.socket === undefined && process.getuid?.() === 0) config.listen.socket = DEFAULT_SOCKET_PATH;
  const service = await createService(config);
  let addresses: string[];
  try {
    addresses = await service.start();
  } catch (e) {
    await service.stop().catch(() => undefined); // release the store and lldpad clients, then report
    throw e;
  }
  io.err(`qbg listening on ${addresses.join(', ')} (database ${config.dbPath})`);
  for (const w of service.warnings) io.err(`qbg: WARNING: ${w}`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    io.err(`qbg: ${signal}, stopping`);
    service.stop().then(
      () => process.exit(0),
      (e) => {
        io.err(`qbg: stop failed: ${(e as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return -1; // keep running
}
