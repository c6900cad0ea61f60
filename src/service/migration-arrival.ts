// The end of an incoming live migration, seen on the destination without libvirt's help: libvirt calls no hook
// when the migration finishes, but brings the guest's macvtap up exactly when the guest's CPUs start running here
// (src/netdev/guest-links.ts). A NIC qbg pre-associated for that VM (POST /migrations/<vm>/prepare, from the hook
// at 'migrate begin') whose macvtap goes up on its uplink is the signal: the VM runs here now, so its prepared NICs
// are associated — the very step POST /migrations/<vm>/start does (same cause in the history, which the fleet's
// migration checks read); an orchestrator may still call it (a no-op then).
// Without this the destination stayed pre-associated: a running VM whose bridge holds only a pre-association.
// A libvirt-owned NIC (docs/ownership.md) is only observed: libvirt associates it itself at the migration's finish.
import type { Logger } from 'pino';
import type { GuestLinkUp } from '../netdev/guest-links.js';
import type { MigrationService } from './migration.js';
import type { NicService } from './nic-service.js';

export class MigrationArrival {
  constructor(private readonly deps: { nics: NicService; migration: MigrationService; log: Logger }) {}

  /** The VMs whose prepared NICs were associated because of this link (none when it is not a prepared NIC's). */
  async guestLinkUp(link: GuestLinkUp): Promise<string[]> {
    const prepared = this.deps.nics.repo
      .all({ state: 'pre-associated', desiredMode: ['preassoc'] })
      .filter((n) => n.mac === link.mac && (link.lower === undefined || n.uplink === link.lower));
    const vms = [...new Set(prepared.map((n) => n.vmUuid))];
    for (const vm of vms) {
      this.deps.log.info({ notice: 'migration-arrived', vmUuid: vm, ifname: link.ifname, mac: link.mac }, `VM ${vm} runs here now (${link.ifname} up): its pre-associated NICs are associated`);
      const mine = this.deps.nics.repo.all({ vmUuid: vm, state: 'pre-associated', desiredMode: ['preassoc'] });
      // libvirt-owned NICs: libvirt itself associated them at the migration's finish, just before it started the
      // guest's CPUs; qbg sends them nothing and records what lldpad holds now
      for (const n of mine.filter((x) => x.owner === 'libvirt')) {
        const input = { vmUuid: n.vmUuid, mac: n.mac, uplink: n.uplink, type: n.typeName, version: n.typeIdVersion, vlan: n.vlan, instanceUuid: n.instanceUuid };
        await this.deps.nics.observe(input, { expect: 'held', cause: 'migration-start' });
      }
      if (!mine.some((x) => x.owner !== 'libvirt')) continue;
      const r = await this.deps.migration.start(vm);
      if (!r.ok) this.deps.log.warn({ notice: 'migration-arrival-failed', vmUuid: vm, nics: r.nics.map((n) => `${n.id}: ${n.state}`) }, `VM ${vm}: not every NIC was associated`);
    }
    return vms;
  }
}
