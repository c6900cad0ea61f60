// `qbg serve` with the scripted associator (test/helpers/scripted-lldpad.ts) in place of lldpad: the same
// composition root, config file, API, SQLite and fleet as the real service, for process tests of many hosts that
// do not need a bridge. Prints the line `qbg serve` prints once listening; stops on SIGTERM like it.
import { loadConfig } from '../../src/config.js';
import { createService } from '../../src/service/app.js';
import { ScriptedLldpad } from './scripted-lldpad.js';

const config = loadConfig({ path: process.argv[2] });
const service = await createService(config, { associator: new ScriptedLldpad() });
const addresses = await service.start();
process.stderr.write(`qbg listening on ${addresses.join(', ')} (database ${config.dbPath}, scripted associator)\n`);
process.on('SIGTERM', () => {
  service.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
