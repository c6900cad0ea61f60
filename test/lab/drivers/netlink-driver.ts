// Runs NetlinkPortProfile inside a station's network namespace for the lab tests:
//   ip netns exec <ns> node --import tsx test/lab/drivers/netlink-driver.ts '<json>'
// json = { lldpadPid, pollIntervalMs?, maxPolls?, replyTimeoutMs?, steps: [{ op, ... }] }; ops run in order on
// one NetlinkPortProfile (one netlink port, as libvirt's one socket) and one JSON line with every result is printed.
// ops: request {req, timeoutMs?} | diagnose {req} | status {uplink} | query {uplink, uuid} | ping | listen {ms}
import { isQbgError } from '../../../src/domain/errors.js';
import type { VsiEvent } from '../../../src/domain/vsi-request.js';
import { NetlinkPortProfile } from '../../../src/lldpad/netlink-port.js';

interface Args {
  lldpadPid: number;
  pollIntervalMs?: number;
  maxPolls?: number;
  replyTimeoutMs?: number;
  steps: Array<Record<string, any>>;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as Args;
  const np = new NetlinkPortProfile({
    lldpadPid: args.lldpadPid,
    ...(args.pollIntervalMs !== undefined ? { pollIntervalMs: args.pollIntervalMs } : {}),
    ...(args.maxPolls !== undefined ? { maxPolls: args.maxPolls } : {}),
    ...(args.replyTimeoutMs !== undefined ? { replyTimeoutMs: args.replyTimeoutMs } : {}),
  });
  const events: VsiEvent[] = [];
  np.onEvent((e) => events.push(e));
  const results: unknown[] = [];
  for (const step of args.steps) {
    const t0 = performance.now();
    try {
      let value: unknown;
      switch (step.op) {
        case 'request':
          value = await np.request(step.req, step.timeoutMs !== undefined ? { timeoutMs: step.timeoutMs } : {});
          break;
        case 'diagnose':
          value = await np.diagnose(step.req);
          break;
        case 'status': {
          const st = await np.portStatus(step.uplink);
          value = { ifindex: st.ifindex, vsis: st.vsis, rawHex: st.raw.toString('hex') };
          break;
        }
        case 'query':
          value = (await np.query(step.uplink, step.uuid)) ?? null;
          break;
        case 'ping':
          value = await np.ping();
          break;
        case 'listen':
          await new Promise((r) => setTimeout(r, step.ms));
          value = { events: [...events] };
          break;
        default:
          throw new Error(`unknown op ${String(step.op)}`);
      }
      results.push({ op: step.op, ok: true, ms: performance.now() - t0, value });
    } catch (e) {
      const error = isQbgError(e) ? e.toJSON() : { error: String((e as Error)?.message ?? e) };
      results.push({ op: step.op, ok: false, ms: performance.now() - t0, error });
    }
  }
  await np.close();
  process.stdout.write(JSON.stringify({ results, events }) + '\n');
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ fatal: String(e?.stack ?? e) }) + '\n');
  process.exitCode = 1;
});
