// What each libvirt / vdsm hook call means for qbg: pure tables, no I/O.
//
// libvirt (/etc/libvirt/hooks/qemu <domain> <operation> <sub-operation> <extra>, domain XML on stdin):
//   prepare begin   → associate (the VM is about to start; a non-zero exit makes libvirt refuse the start)
//   migrate begin   → migration prepare: pre-associate (called on the DESTINATION at the start of an incoming
//                     migration; the source still runs the VM, so the bridge must not move the VSI yet)
//   restore begin   → associate (a saved VM comes back)
//   reconnect begin, attach begin → associate (libvirtd restarted / took over a running qemu); never fails:
//                     libvirt kills the domain when these fail, which would be worse than a missing VSI
//   stopped end, release end → disassociate (idempotent; release also covers a start that failed after prepare)
//   anything else   → nothing
// vdsm (/usr/libexec/vdsm/hooks/<hook>/50_qbg, domain XML in the file named by $_hook_domxml):
//   before_vm_start → associate; before_vm_migrate_destination → migration prepare (pre-associate);
//   after_vm_migrate_destination → migration start (associate); after_vm_migrate_source → migration stop
//   (disassociate on the source); after_vm_destroy → disassociate;
//   before_vm_migrate_source → nothing (the VM still runs here).
// That is for a host where qbg owns the VSIs (config ownership: qbg, the default). Where libvirt owns them (the
// interface carries the full virtualport and libvirt associates over netlink itself) the hook sends no request at
// all: forOwnership() turns the steps into checks and observations (docs/ownership.md).
// libvirt calls no hook when an incoming migration FINISHES ('started' runs at prepare, with the VM paused): qbg
// associates the destination's NICs when libvirt brings the guest's macvtap up (src/service/migration-arrival.ts),
// or when something calls POST /migrations/<vm>/start (see docs/hooks.md).

export type HookAction =
  | 'associate'
  | 'disassociate'
  | 'migration-prepare'
  | 'migration-start'
  | 'migration-stop'
  // libvirt owns the VSIs: every qbg NIC must carry the virtualport libvirt announces (else nobody would announce it)
  | 'require-virtualport'
  // libvirt owns the VSIs: record what lldpad holds after libvirt's step (POST /nics/observe)
  | 'observe-held'
  | 'observe-gone'
  | 'none';

/** Who announces the VSIs of this host's VMs (qbg config `ownership`, read from qbg's /healthz). */
export type Ownership = 'qbg' | 'libvirt';

export interface HookStep {
  action: HookAction;
  /** Names the step in messages. */
  cause: string;
  /** Whether a failure should fail the VM operation (non-zero exit); false = warn on stderr, exit 0. */
  mayFail: boolean;
  /** Leave NICs pre-associated by an incoming migration alone (libvirt prepare/started follow 'migrate'). */
  keepPreassociated?: boolean;
}

const NOTHING: HookStep = { action: 'none', cause: 'none', mayFail: false };

export const LIBVIRT_OPERATIONS = ['prepare', 'start', 'started', 'stopped', 'release', 'migrate', 'restore', 'reconnect', 'attach'] as const;

export function libvirtStep(operation: string, subOperation: string): HookStep {
  switch (`${operation} ${subOperation}`) {
    case 'prepare begin':
      return { action: 'associate', cause: 'libvirt-prepare', mayFail: true, keepPreassociated: true };
    case 'migrate begin':
      return { action: 'migration-prepare', cause: 'libvirt-migrate-in', mayFail: true };
    case 'restore begin':
      return { action: 'associate', cause: 'libvirt-restore', mayFail: true, keepPreassociated: true };
    case 'reconnect begin':
      return { action: 'associate', cause: 'libvirt-reconnect', mayFail: false, keepPreassociated: true };
    case 'attach begin':
      return { action: 'associate', cause: 'libvirt-attach', mayFail: false, keepPreassociated: true };
    case 'started begin':
      // only where libvirt owns the VSIs: it has associated them by now (forOwnership drops it for qbg)
      return { action: 'observe-held', cause: 'libvirt-started', mayFail: false };
    case 'stopped end':
      return { action: 'disassociate', cause: 'libvirt-stopped', mayFail: false };
    case 'release end':
      return { action: 'disassociate', cause: 'libvirt-release', mayFail: false };
    default:
      return NOTHING;
  }
}

/**
 * The step for the host's ownership. qbg: as planned, without the observations. libvirt: no request ever —
 * starts (prepare, restore, an incoming migration) only check that each qbg NIC carries the full virtualport libvirt
 * will announce; once libvirt has (de-)associated (started begin, release end — libvirt de-associates between stopped
 * end and release end — a vdsm after_* hook) qbg records what lldpad holds.
 */
export function forOwnership(step: HookStep, ownership: Ownership): HookStep {
  if (ownership === 'qbg') return step.action === 'observe-held' || step.action === 'observe-gone' ? NOTHING : step;
  switch (step.action) {
    case 'associate':
      return step.mayFail ? { ...step, action: 'require-virtualport' } : { ...step, action: 'observe-held' };
    case 'migration-prepare':
      return { ...step, action: 'require-virtualport' };
    case 'migration-start':
      return { ...step, action: 'observe-held' };
    case 'disassociate':
    case 'migration-stop':
      return step.cause === 'libvirt-stopped' ? NOTHING : { ...step, action: 'observe-gone' };
    default:
      return step;
  }
}

export const VDSM_HOOKS = [
  'before_vm_start',
  'after_vm_destroy',
  'before_vm_migrate_source',
  'after_vm_migrate_source',
  'before_vm_migrate_destination',
  'after_vm_migrate_destination',
] as const;
export type VdsmHook = (typeof VDSM_HOOKS)[number];

export function vdsmStep(hook: VdsmHook): HookStep {
  switch (hook) {
    case 'before_vm_start':
      return { action: 'associate', cause: 'vdsm-vm-start', mayFail: true };
    case 'before_vm_migrate_destination':
      return { action: 'migration-prepare', cause: 'vdsm-migrate-destination', mayFail: true };
    case 'after_vm_migrate_destination':
      // the VM already runs here: a failure cannot undo the migration, it can only be reported
      return { action: 'migration-start', cause: 'vdsm-migrated-in', mayFail: false };
    case 'after_vm_migrate_source':
      return { action: 'migration-stop', cause: 'vdsm-migrated-out', mayFail: false };
    case 'after_vm_destroy':
      return { action: 'disassociate', cause: 'vdsm-vm-destroy', mayFail: false };
    case 'before_vm_migrate_source':
      return NOTHING;
  }
}

/** Exit codes. vdsm reads 1 as "failed, run the other hooks" and 2 as "failed, stop" (its hooking.py). */
export const EXIT = { ok: 0, libvirtFailed: 1, vdsmFailed: 2, usage: 64 } as const;
