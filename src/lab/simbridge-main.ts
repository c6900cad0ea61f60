// CLI for the simulated bridge: run inside the bridge namespace of a lab started with `--bridge none`:
//   ip netns exec qbg-ID-br node --import tsx src/lab/simbridge-main.ts --port b1 --scenario '{"default":{"action":"accept"}}'
// Reports JSON lines on stdout; takes JSON-line commands on stdin (see --help). Exits when stdin closes.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { isQbgError } from '../domain/errors.js';
import { parseIfname, parseTypeId, parseUuid } from '../domain/identifiers.js';
import { openRawPort } from './raw-socket.js';
import { parseScenario, parseScenarioRule, SimBridge, type Scenario } from './simbridge.js';

const HELP = `simbridge: a simulated 802.1Qbg bridge port (LLDP EVB TLV + ECP22 + VDP22) for the qbg lab.

usage: ip netns exec qbg-ID-br npx tsx src/lab/simbridge-main.ts --port b1 [options]

options:
  --port IF              bridge-side interface (required)
  --scenario JSON|@FILE  rules, e.g. {"default":{"action":"accept"},
                           "byUuid":{"<uuid>":{"action":"reject","reason":2}},
                           "byTypeId":{"42":{"action":"silent"}}}
                         actions: accept | reject (reason 1-15, keep, hard) | silent (ECP ACK, no VDP answer)
                                  | no-ack (not even the ECP ACK) | keepalive-loss (accept, then ignore keep-alives;
                                  ackEcp:false also withholds their ECP ACK); any rule may add delayMs;
                                  accept may add assignVlan (1-4095): the VID answered for a wildcard (VID 0) filter
  --rte N --rwd N --rka N --retries N
                         EVB values advertised (exponents of 10 us; defaults 8, 20, 20, 3). The station uses the
                         larger of its own and ours.
  --lldp-interval MS     LLDP period (default 1000)
  --help

stdin commands (one JSON object per line; an "id" field is echoed in the reply):
  {"cmd":"scenario","scenario":{...}}            replace the scenario
  {"cmd":"rule","uuid":"<uuid>","rule":{...}}     set a rule for one VSI (rule null removes it)
  {"cmd":"rule","typeId":42,"rule":{...}}         ... for one VSI type id
  {"cmd":"rule","rule":{...}}                     ... the default rule
  {"cmd":"deassoc","uuid":"<uuid>","reason":0}    unsolicited de-associate of a VSI we hold
  {"cmd":"held"}                                  list the VSIs we hold
  {"cmd":"quit"}

stdout: one JSON object per line with "event" and "ms" (since start): ready, lldp-station, vdp-request,
  vdp-ignored, sent, ecp-acked, ecp-retransmit, ecp-tx-failed, ecp-ack-withheld, ecp-duplicate, ecp-dropped (wrong
  ECP version or unknown subtype: no ACK), ecp-unsupported-subtype (PECSP: ACKed, ignored), decode-error (a VDP PDU
  without exactly one manager id TLV first is dropped whole), reply, error.
`;

function out(o: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

function argValue(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`${name} needs a value`);
  return v;
}

function intArg(argv: string[], name: string, min: number, max: number): number | undefined {
  const v = argValue(argv, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new Error(`${name} must be an integer ${min}–${max}, got ${v}`);
  return Number(v);
}

function readScenario(v: string | undefined): Scenario {
  if (v === undefined) return {};
  const text = v.startsWith('@') ? readFileSync(v.slice(1), 'utf8') : v;
  return parseScenario(JSON.parse(text));
}

const KNOWN = ['--port', '--scenario', '--rte', '--rwd', '--rka', '--retries', '--lldp-interval', '--help'];

function main(argv: string[]): void {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP);
    return;
  }
  for (const a of argv) if (a.startsWith('-') && !KNOWN.includes(a)) throw new Error(`unknown option ${a} (see --help)`);
  const port = argValue(argv, '--port');
  if (!port) throw new Error('--port is required (see --help)');
  const ifname = parseIfname(port, '--port');
  const scenario = readScenario(argValue(argv, '--scenario'));
  const evb = Object.fromEntries(
    (
      [
        ['rte', intArg(argv, '--rte', 0, 31)],
        ['rwd', intArg(argv, '--rwd', 0, 31)],
        ['rka', intArg(argv, '--rka', 0, 31)],
        ['retries', intArg(argv, '--retries', 0, 7)],
      ] as const
    ).filter(([, v]) => v !== undefined),
  );
  const lldpIntervalMs = intArg(argv, '--lldp-interval', 100, 60000);

  const raw = openRawPort(ifname);
  const bridge = new SimBridge(raw, { scenario, evb, lldpIntervalMs, log: out });
  const shutdown = (why: string): void => {
    bridge.stop();
    raw.close();
    out({ event: 'exit', why });
    process.exit(0);
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (!line.trim()) return;
    let id: unknown;
    try {
      const c = JSON.parse(line) as Record<string, unknown>;
      id = c.id;
      switch (c.cmd) {
        case 'scenario':
          bridge.setScenario(parseScenario(c.scenario));
          return out({ event: 'reply', id, cmd: c.cmd, scenario: bridge.getScenario() });
        case 'rule': {
          const rule = c.rule === null ? undefined : parseScenarioRule(c.rule);
          const target = c.uuid !== undefined ? { uuid: parseUuid(c.uuid) } : c.typeId !== undefined ? { typeId: parseTypeId(c.typeId) } : {};
          bridge.setRule(target, rule);
          return out({ event: 'reply', id, cmd: c.cmd, scenario: bridge.getScenario() });
        }
        case 'deassoc': {
          const uuid = parseUuid(c.uuid);
          const reason = c.reason === undefined ? 0 : Number(c.reason);
          if (!Number.isInteger(reason) || reason < 0 || reason > 15) throw new Error(`reason must be an integer 0–15, got ${String(c.reason)}`);
          const held = bridge.deassociate(uuid, reason);
          return held
            ? out({ event: 'reply', id, cmd: c.cmd, instanceUuid: uuid })
            : out({ event: 'error', id, cmd: c.cmd, error: `VSI ${uuid} is not held by this bridge` });
        }
        case 'held':
          return out({ event: 'reply', id, cmd: c.cmd, vsis: bridge.heldVsis() });
        case 'quit':
          return shutdown('quit');
        default:
          throw new Error(`cmd must be one of scenario, rule, deassoc, held, quit, got ${JSON.stringify(c.cmd)}`);
      }
    } catch (e) {
      out({ event: 'error', id, error: isQbgError(e) ? e.message : (e as Error).message, ...(isQbgError(e) && e.field ? { field: e.field } : {}) });
    }
  });
  rl.on('close', () => shutdown('stdin closed'));
  bridge.start();
}

try {
  main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`simbridge: ${(e as Error).message}\n`);
  process.exit(2);
}
