// Liveness and readiness probes, both public (a load balancer or systemd watchdog has no token).
// /healthz: the process answers. /readyz: qbg can do its job — the store works, lldpad answers, and EVB is up on
// every configured uplink (without EVB lldpad refuses VDP: "VDP protocol not supported on interface").
import type { FastifyPluginAsync } from 'fastify';

export interface ReadinessDeps {
  /** Throws or returns false when the store cannot be read (e.g. a `SELECT 1`). */
  storeOk(): boolean | Promise<boolean>;
  /** lldpad's answer to a ping (VsiAssociator.ping). */
  lldpadPing(): Promise<{ ok: boolean; pid?: number }>;
  /** Uplinks whose EVB state matters (the configured ones). */
  uplinks(): string[] | Promise<string[]>;
  /** Whether the EVB TLV exchange is complete on one uplink. */
  evbUp(uplink: string): Promise<boolean>;
  /** Per-check time limit; a check that does not answer in time fails. Default 2000 ms. */
  checkTimeoutMs?: number;
  /** Reported by /healthz. */
  version?: string;
  /** Reported by /healthz: who announces this host's libvirt VSIs (config ownership); the hook reads it. */
  ownership?: 'qbg' | 'libvirt';
}

export interface CheckResult {
  name: string;
  ok: boolean;
  detail?: string;
}

async function within<T>(ms: number, what: () => T | Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.resolve().then(what),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function check(name: string, ms: number, fn: () => Promise<{ ok: boolean; detail?: string }>): Promise<CheckResult> {
  try {
    const r = await within(ms, fn);
    return { name, ...r };
  } catch (e) {
    return { name, ok: false, detail: (e as Error).message };
  }
}

/** Run every readiness check in parallel; the result names each check so a 503 says what is wrong. */
export async function runReadiness(deps: ReadinessDeps): Promise<{ ready: boolean; checks: CheckResult[] }> {
  const ms = deps.checkTimeoutMs ?? 2000;
  const store = check('store', ms, async () => ((await deps.storeOk()) ? { ok: true } : { ok: false, detail: 'store check returned false' }));
  const lldpad = check('lldpad', ms, async () => {
    const p = await deps.lldpadPing();
    return p.ok ? { ok: true, detail: p.pid !== undefined ? `pid ${p.pid}` : undefined } : { ok: false, detail: 'lldpad did not answer the ping' };
  });
  let uplinks: string[];
  try {
    uplinks = await within(ms, deps.uplinks);
  } catch (e) {
    const checks = await Promise.all([store, lldpad]);
    checks.push({ name: 'uplinks', ok: false, detail: (e as Error).message });
    return { ready: false, checks };
  }
  const evb = uplinks.map((u) =>
    check(`evb:${u}`, ms, async () => ((await deps.evbUp(u)) ? { ok: true } : { ok: false, detail: `EVB TLV exchange not complete on ${u}` })),
  );
  const checks = (await Promise.all([store, lldpad, ...evb])).map((c) => (c.detail === undefined ? { name: c.name, ok: c.ok } : c));
  return { ready: checks.every((c) => c.ok), checks };
}

const startedAt = Date.now();

export function healthRoutes(deps: ReadinessDeps): FastifyPluginAsync {
  return async (app) => {
    app.get('/healthz', { config: { role: 'public' }, schema: { tags: ['health'], summary: 'Liveness: the process answers' } }, async () => ({
      status: 'ok',
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      ...(deps.version ? { version: deps.version } : {}),
      ...(deps.ownership ? { ownership: deps.ownership } : {}),
    }));

    app.get(
      '/readyz',
      { config: { role: 'public' }, schema: { tags: ['health'], summary: 'Readiness: store, lldpad and EVB per uplink; 503 names the failing checks' } },
      async (_req, reply) => {
        const { ready, checks } = await runReadiness(deps);
        const failing = checks.filter((c) => !c.ok).map((c) => c.name);
        return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not-ready', failing, checks });
      },
    );
  };
}
