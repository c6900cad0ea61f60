// One hook run: read the domain, find its qbg NICs, ask the local qbg, and turn the outcome into an exit code and
// stderr lines. Nothing is ever printed on stdout: libvirt reads a 'migrate' hook's stdout as a replacement
// domain XML.
import { isQbgError } from '../domain/errors.js';
import { nicId } from '../domain/nic.js';
import { readHookDomain, type HookDomain, type HookNic } from './domain-nics.js';
import type { HookConfig } from './hook-config.js';
import { HookClient, QbgDown, type HookNicView, type HookTypeView, type NicInput } from './qbg-client.js';
import { forOwnership, type HookStep } from './plan.js';

export interface HookRun {
  /** 'libvirt qemu prepare begin', 'vdsm before_vm_start': named in every message. */
  label: string;
  step: HookStep;
  /** Read lazily: a step with nothing to do never parses the XML. */
  domainXml: () => Promise<string> | string;
  config: HookConfig;
  /** Exit code for a failure that must stop the VM operation (libvirt 1, vdsm 2). */
  failCode: number;
  stderr: (line: string) => void;
  fetch?: typeof fetch;
}

const PRE_STATES = new Set(['pre-associated', 'pre-associating']);

class Failure extends Error {}

export async function runHook(run: HookRun): Promise<number> {
  const { step } = run;
  const say = (s: string) => run.stderr(`qbg hook (${run.label}): ${s}`);
  if (step.action === 'none') return 0;

  let domain: HookDomain;
  try {
    domain = readHookDomain(await run.domainXml());
  } catch (e) {
    return finish(run, [`cannot read the domain XML: ${message(e)}`], say);
  }
  if (domain.nics.length === 0) return 0;
  const vm = domain.name ?? domain.vmUuid;
  const client = new HookClient(run.config, run.fetch);
  try {
    const ownership = await client.ping();
    const owned = forOwnership(step, ownership);
    if (owned.action === 'none') return 0;
    run = { ...run, step: owned };
    switch (owned.action) {
      case 'require-virtualport':
        return requireVirtualports(run, domain, vm, say);
      case 'observe-held':
      case 'observe-gone':
        return await observeAll(run, client, domain, vm, owned.action === 'observe-held' ? 'held' : 'gone', say);
      case 'associate':
        return await associateAll(run, client, domain, vm, say);
      case 'disassociate':
        return await disassociateAll(run, client, domain, vm, say);
      case 'migration-prepare': {
        const announced = libvirtAnnounced(domain, vm);
        if (announced.length) return finish(run, announced, say);
        const inputs = await Promise.all(domain.nics.map((n) => nicInput(run.config, client, n, new TypeCache())));
        report(await client.migrationPrepare(domain.vmUuid, inputs), vm, say);
        return 0;
      }
      case 'migration-start':
      case 'migration-stop':
        report(await client.migrationStep(domain.vmUuid, step.action === 'migration-start' ? 'start' : 'stop'), vm, say);
        return 0;
    }
  } catch (e) {
    if (e instanceof QbgDown && step.action.startsWith('observe-')) {
      // nothing to refuse or let through: only a host where libvirt owns the VSIs misses the record
      say(`${message(e)}; where libvirt owns the VSIs, this step goes unrecorded (POST /nics/:id/reconcile records what lldpad holds later)`);
      return 0;
    }
    if (e instanceof QbgDown) return down(run, e, vm, say);
    return finish(run, [`VM ${vm}: ${message(e)}`], say);
  }
}

function report(nics: HookNicView[], vm: string, say: (s: string) => void): void {
  for (const n of nics) say(`VM ${vm} NIC ${n.id.split('_')[1] ?? n.id}: ${n.state} on ${n.uplink}`);
}

/** /types fetched at most once per run, only for NICs known by their virtualport typeid alone. */
class TypeCache {
  private types?: Promise<HookTypeView[]>;
  get(client: HookClient): Promise<HookTypeView[]> {
    return (this.types ??= client.types());
  }
}

async function nicInput(cfg: HookConfig, client: HookClient, n: HookNic, cache: TypeCache): Promise<NicInput> {
  const uplink = n.uplink ?? cfg.defaultUplink;
  if (!uplink) throw new Failure(`NIC ${n.mac}: no uplink: a type='${n.interfaceType ?? '?'}' NIC names no <source dev>; set defaultUplink in the hook config`);
  const input: NicInput = { mac: n.mac, uplink, vlan: n.vlan, type: '' };
  if (n.profile) {
    input.type = n.profile;
    if (n.version !== undefined) input.version = n.version;
  } else {
    const vp = n.virtualport ?? {};
    if (vp.typeId === undefined) throw new Failure(`NIC ${n.mac}: its 802.1Qbg virtualport has no typeid and the domain metadata names no qbg profile for it`);
    const t = (await cache.get(client)).find((x) => x.typeId === vp.typeId && (vp.managerId === undefined || x.managerId === undefined || x.managerId === vp.managerId));
    if (!t) throw new Failure(`NIC ${n.mac}: virtualport typeid ${vp.typeId} is not a VSI type known to qbg (add it with "qbg profile add")`);
    input.type = t.name;
    if (vp.typeIdVersion !== undefined) input.version = vp.typeIdVersion;
  }
  // the VSI libvirt announces from the virtualport: the one qbg observes (ownership libvirt)
  if (n.virtualport?.instanceId) input.instanceUuid = n.virtualport.instanceId;
  return input;
}

/**
 * ownership qbg: a NIC whose <interface> carries an 802.1Qbg virtualport is announced by libvirt itself over netlink
 * before the VM starts; qbg announcing it too would make two requesters of one VSI (lldpad answers only the first
 * and lets either side's de-associate remove it). Such a NIC is refused, never associated by qbg.
 */
function libvirtAnnounced(domain: HookDomain, vm: string): string[] {
  return domain.nics
    .filter((n) => n.virtualport !== undefined)
    .map(
      (n) =>
        `VM ${vm} NIC ${n.mac}: its <interface> carries an 802.1Qbg <virtualport>, so libvirt announces the VSI itself over netlink; ` +
        'on this host qbg owns the VSIs (ownership: qbg) and a VSI has one owner: remove the virtualport (qbg xml rewrite does) or set ownership: libvirt in qbg\'s config',
    );
}

/** ownership libvirt: libvirt announces only what the interface carries, so a qbg NIC without it would have no VSI. */
function requireVirtualports(run: HookRun, domain: HookDomain, vm: string, say: (s: string) => void): number {
  const failures: string[] = [];
  for (const n of domain.nics) {
    // a type='network' NIC gets its virtualport from the network when libvirt starts it
    if (n.virtualport !== undefined || n.interfaceType === 'network') {
      say(`VM ${vm} NIC ${n.mac}: libvirt announces its VSI (ownership: libvirt); qbg observes it once the VM runs`);
      continue;
    }
    failures.push(
      `VM ${vm} NIC ${n.mac}: its <interface> has no 802.1Qbg <virtualport>; on this host libvirt owns the VSIs (ownership: libvirt) and announces only what the interface carries, ` +
        'so nobody would announce this one: write it with qbg xml rewrite on this host, or set ownership: qbg in qbg\'s config',
    );
  }
  return finish(run, failures, say);
}

/** ownership libvirt: after libvirt's own step, qbg records what lldpad holds for each NIC (no request is sent). */
async function observeAll(run: HookRun, client: HookClient, domain: HookDomain, vm: string, expect: 'held' | 'gone', say: (s: string) => void): Promise<number> {
  const failures: string[] = [];
  const cache = new TypeCache();
  const attached = expect === 'gone' ? await attachedWhileRunning(client, domain) : new Set<string>();
  await Promise.all(
    domain.nics.map(async (n) => {
      try {
        const nic = await client.observe(domain.vmUuid, await nicInput(run.config, client, n, cache), expect, { attachedWhileRunning: attached.has(n.mac) });
        say(`VM ${vm} NIC ${n.mac}: ${nic ? `${nic.state} (libvirt's VSI, as lldpad holds it)${nic.reason ? `: ${nic.reason}` : ''}` : 'not known to qbg'}`);
      } catch (e) {
        failures.push(`VM ${vm} ${e instanceof Failure ? '' : `NIC ${n.mac}: `}${message(e)}`);
      }
    }),
  );
  return finish(run, failures, say);
}

/**
 * At a stop: the NICs qbg has no record of although it saw others of the VM held (observed at its start). libvirt runs
 * no hook at an attach, so those were attached while the VM ran, not announced in vain at a start that failed: a
 * start that failed never reached `started`, where qbg would have recorded the others held. Asked before any
 * observation of this stop changes the others.
 */
async function attachedWhileRunning(client: HookClient, domain: HookDomain): Promise<Set<string>> {
  const known = await Promise.all(domain.nics.map(async (n) => ({ mac: n.mac, nic: await client.getNic(nicId(domain.vmUuid, n.mac)) })));
  const ran = known.some((k) => k.nic?.state === 'associated' || k.nic?.state === 'pre-associated');
  return new Set(ran ? known.filter((k) => !k.nic).map((k) => k.mac) : []);
}

async function associateAll(run: HookRun, client: HookClient, domain: HookDomain, vm: string, say: (s: string) => void): Promise<number> {
  const failures: string[] = [];
  const done: string[] = [];
  let outage: QbgDown | undefined;
  const cache = new TypeCache();
  const announced = libvirtAnnounced(domain, vm);
  // a start is refused outright (nothing sent); a step that cannot fail leaves those NICs to libvirt
  if (announced.length && run.step.mayFail) return finish(run, announced, say);
  for (const a of announced) say(`${a} (left to libvirt)`);
  await Promise.all(
    domain.nics
      .filter((n) => n.virtualport === undefined)
      .map(async (n) => {
        const id = nicId(domain.vmUuid, n.mac);
        try {
          if (run.step.keepPreassociated) {
            const current = await client.getNic(id);
            if (current && PRE_STATES.has(current.state)) {
              say(`VM ${vm} NIC ${n.mac}: ${current.state} for an incoming migration; left as it is`);
              return;
            }
          }
          const nic = await client.associate(domain.vmUuid, await nicInput(run.config, client, n, cache));
          done.push(id);
          say(`VM ${vm} NIC ${n.mac}: ${nic.state} on ${nic.uplink} (VSI type ${nic.typeName} v${nic.typeIdVersion})`);
        } catch (e) {
          if (e instanceof QbgDown) outage = e;
          else failures.push(`VM ${vm} ${e instanceof Failure ? '' : `NIC ${n.mac}: `}${message(e)}`);
        }
      }),
  );
  let code: number;
  if (outage && failures.length === 0) code = down(run, outage, vm, say);
  else code = finish(run, outage ? [...failures, message(outage)] : failures, say);
  // the VM will not run: do not leave the NICs associated here behind
  if (code !== 0) await rollback(client, done, say);
  return code;
}

async function disassociateAll(run: HookRun, client: HookClient, domain: HookDomain, vm: string, say: (s: string) => void): Promise<number> {
  const failures: string[] = [];
  await Promise.all(
    domain.nics.map(async (n) => {
      try {
        const nic = await client.disassociate(nicId(domain.vmUuid, n.mac));
        say(nic ? `VM ${vm} NIC ${n.mac}: ${nic.state}` : `VM ${vm} NIC ${n.mac}: not known to qbg, nothing to disassociate`);
      } catch (e) {
        failures.push(`VM ${vm} NIC ${n.mac}: disassociate failed: ${message(e)}`);
      }
    }),
  );
  return finish(run, failures, say);
}

function message(e: unknown): string {
  if (isQbgError(e)) return `${e.message} [${e.code}${e.field ? ` field ${e.field}` : ''}]`;
  return (e as Error).message ?? String(e);
}

function finish(run: HookRun, failures: string[], say: (s: string) => void): number {
  if (failures.length === 0) return 0;
  for (const f of failures) say(f);
  if (!run.step.mayFail) {
    say('continuing anyway: this operation cannot be stopped by qbg');
    return 0;
  }
  return run.failCode;
}

/** The documented outage policy: fail the VM operation (default) or let it through (onQbgDown: allow). */
function down(run: HookRun, e: unknown, vm: string, say: (s: string) => void): number {
  say(message(e));
  if (!run.step.mayFail) {
    say(`VM ${vm}: continuing without qbg; check "qbg nic list" once qbg is back`);
    return 0;
  }
  if (run.config.onQbgDown === 'allow') {
    say(`VM ${vm}: let through WITHOUT VSI association (onQbgDown=allow)`);
    return 0;
  }
  say(`VM ${vm}: refused because qbg is down (onQbgDown=fail; set "onQbgDown": "allow" in the hook config to let VMs start anyway)`);
  return run.failCode;
}

async function rollback(client: HookClient, ids: string[], say: (s: string) => void): Promise<void> {
  await Promise.all(
    ids.map(async (id) => {
      try {
        await client.disassociate(id);
        say(`NIC ${id}: disassociated again because the VM operation fails`);
      } catch (e) {
        say(`NIC ${id}: rollback failed: ${message(e)}`);
      }
    }),
  );
}
