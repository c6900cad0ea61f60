// The live facts `qbg explain` judges a domain against, gathered at once for one document: lldpad's ping, the EVB
// state of each uplink the domain's NICs use (configured uplinks through the uplink manager; others read straight
// from lldpad, as a station), and the libvirtd in lldpad's network namespace.
import { isQbgError } from '../domain/errors.js';
import { explainDomain, readExplainDomain, uplinksOf, type ExplainFacts, type ExplainResult, type LibvirtdFacts, type UplinkFacts } from '../libvirt/explain.js';
import { probeLibvirtd } from '../libvirt/libvirtd-probe.js';
import { Lldptool } from '../lldpad/lldptool.js';
import { readUplink } from '../lldpad/uplink-config.js';
import type { UplinkManager } from './uplink-manager.js';

export interface ExplainDeps {
  types: ExplainFacts['types'];
  uplinks: UplinkManager;
  lldpadPing(): Promise<{ ok: boolean; pid?: number }>;
  /** lldpad's network namespace (config lldpad.netns); libvirtd is looked for there too */
  lldpadNetns?: string;
  ownership?: 'qbg' | 'libvirt';
  /** replaces the /proc probe (tests) */
  libvirtd?: () => Promise<LibvirtdFacts | null>;
}

const within = <T>(ms: number, p: Promise<T>, fallback: T): Promise<T> =>
  Promise.race([p, new Promise<T>((r) => setTimeout(() => r(fallback), ms).unref())]);

async function uplinkFacts(deps: ExplainDeps, name: string): Promise<UplinkFacts> {
  const managed = (await deps.uplinks.store.get(name)) !== undefined;
  try {
    if (managed) {
      const s = await deps.uplinks.status(name);
      return { managed, ...(s.error ? { error: s.error.message } : {}), evbNegotiated: s.peerEvbSeen, ...(s.bridge ? { reflectiveRelayOn: s.bridge.reflectiveRelayOn } : {}) };
    }
    const rb = await readUplink(new Lldptool(deps.lldpadNetns !== undefined ? { netns: deps.lldpadNetns } : {}), name, 'station');
    return { managed, evbNegotiated: rb.peerEvbSeen, ...(rb.bridge ? { reflectiveRelayOn: rb.bridge.reflectiveRelayOn } : {}) };
  } catch (e) {
    if (!isQbgError(e)) throw e;
    return { managed, error: e.message, evbNegotiated: false };
  }
}

export async function explain(deps: ExplainDeps, xml: string, opts: { defaultUplink?: string } = {}): Promise<ExplainResult & { host: { lldpad: { ok: boolean; pid?: number }; libvirtd: LibvirtdFacts | null } }> {
  const { read } = readExplainDomain(xml);
  const names = read ? uplinksOf(read.nics, opts.defaultUplink) : [];
  const [lldpad, libvirtd, ...ups] = await Promise.all([
    within(2000, deps.lldpadPing().catch(() => ({ ok: false })), { ok: false }),
    (deps.libvirtd ?? (() => probeLibvirtd(deps.lldpadNetns)))(),
    ...names.map((n) => uplinkFacts(deps, n)),
  ]);
  const facts: ExplainFacts = {
    types: deps.types,
    lldpad: lldpad as { ok: boolean; pid?: number },
    uplinks: Object.fromEntries(names.map((n, i) => [n, ups[i] as UplinkFacts])),
    libvirtd: libvirtd as LibvirtdFacts | null,
    ...(deps.ownership ? { ownership: deps.ownership } : {}),
    ...(opts.defaultUplink !== undefined ? { defaultUplink: opts.defaultUplink } : {}),
  };
  return { ...explainDomain(xml, facts), host: { lldpad: facts.lldpad, libvirtd: facts.libvirtd ?? null } };
}
