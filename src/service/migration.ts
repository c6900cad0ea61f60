// Live migration of a VM's NICs, the way libvirt drives 802.1Qbg: the destination pre-associates (plain
// PREASSOCIATE, not RR) when it prepares, associates when the VM starts there; the source disassociates when
// the VM stops there. A failed migration rolls back on the destination only (its VSIs dropped): the source,
// still running the VM, is never touched. Each host runs its own qbg; each step is one call on one host.
// The instance UUID is the same on both hosts (derived from VM UUID + MAC), so the bridge sees one VSI move.
import { qbgError } from '../domain/errors.js';
import { parseUuid } from '../domain/identifiers.js';
import { parseNicAssociation, type Nic, type NicAssociationInput } from '../domain/nic.js';
import { HELD_STATES } from '../domain/nic-state.js';
import type { NicAnswer, NicService } from './nic-service.js';

export type MigrationNicInput = Omit<NicAssociationInput, 'vmUuid' | 'mode'>;

export interface MigrationStepResult {
  vmUuid: string;
  step: 'prepare' | 'start' | 'stop' | 'rollback';
  /** Every step's NICs settled as asked. */
  ok: boolean;
  nics: Nic[];
}

const SETTLED_OK = { prepare: 'pre-associated', start: 'associated', stop: 'disassociated', rollback: 'disassociated' } as const;

export class MigrationService {
  constructor(private readonly nics: NicService) {}

  /**
   * Destination, before the VM arrives: pre-associate every NIC. If any is refused, the ones already
   * pre-associated are dropped again and the step fails (libvirt then aborts the migration).
   */
  async prepare(vmUuidIn: string, nics: MigrationNicInput[]): Promise<MigrationStepResult> {
    const vmUuid = parseUuid(vmUuidIn, 'vmUuid');
    if (!Array.isArray(nics) || nics.length === 0) throw qbgError('QBG_ERR_FIELD_REQUIRED', 'nics (at least one NIC)');
    // a malformed NIC is refused before lldpad is asked anything
    for (const n of nics) parseNicAssociation({ ...n, vmUuid, mode: 'preassoc' });
    const answers = await Promise.allSettled(nics.map((n) => this.nics.associate({ ...n, vmUuid, mode: 'preassoc' }, { cause: 'migration-prepare' })));
    const refused = answers.find((a) => a.status === 'rejected');
    if (refused) {
      // bad input for one NIC: undo the others OF THIS REQUEST (not every NIC of the VM: it may run here) and
      // report the input error as it is
      const mine = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value.nic.id] : []));
      await Promise.all(mine.map((id) => this.nics.disassociate(id, { cause: 'migration-rollback' })));
      throw (refused as PromiseRejectedResult).reason;
    }
    const result = this.result(vmUuid, 'prepare', answers.map((a) => (a as PromiseFulfilledResult<NicAnswer>).value.nic));
    if (!result.ok) {
      const rolled = await this.rollback(vmUuid);
      return { ...result, nics: rolled.nics };
    }
    return result;
  }

  /** Destination, the VM runs here now: associate what prepare pre-associated (pinned parameters). */
  async start(vmUuidIn: string): Promise<MigrationStepResult> {
    const vmUuid = parseUuid(vmUuidIn, 'vmUuid');
    const mine = this.vmNics(vmUuid).filter((n) => n.desiredMode === 'preassoc' || n.desiredMode === 'assoc');
    if (mine.length === 0) throw qbgError('QBG_ERR_NOT_FOUND', `pre-associated NICs of VM ${vmUuid} (run prepare first)`);
    const nics = await Promise.all(mine.map(async (n) => (await this.nics.request(n.id, 'assoc', 'migration-start')).nic));
    return this.result(vmUuid, 'start', nics);
  }

  /** Source, the VM left: disassociate every NIC of the VM held here. */
  async stop(vmUuidIn: string): Promise<MigrationStepResult> {
    const vmUuid = parseUuid(vmUuidIn, 'vmUuid');
    return this.result(vmUuid, 'stop', await this.dropAll(vmUuid, 'migration-stop'));
  }

  /** Destination, the migration failed: drop what prepare/start made here. Never called on the source. */
  async rollback(vmUuidIn: string): Promise<MigrationStepResult> {
    const vmUuid = parseUuid(vmUuidIn, 'vmUuid');
    return this.result(vmUuid, 'rollback', await this.dropAll(vmUuid, 'migration-rollback'));
  }

  private async dropAll(vmUuid: string, cause: string): Promise<Nic[]> {
    const mine = this.vmNics(vmUuid).filter((n) => n.desiredMode !== 'deassoc' || HELD_STATES.includes(n.state) || n.state === 'failed' || n.state === 'timed-out');
    return Promise.all(mine.map(async (n) => (await this.nics.disassociate(n.id, { cause })).nic));
  }

  private vmNics(vmUuid: string): Nic[] {
    return this.nics.repo.all({ vmUuid });
  }

  private result(vmUuid: string, step: MigrationStepResult['step'], nics: Nic[]): MigrationStepResult {
    return { vmUuid, step, ok: nics.every((n) => n.state === SETTLED_OK[step]), nics };
  }
}
