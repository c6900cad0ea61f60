// Interface XML generation and domain rewrite, the way the API does them: profile looked up in the SQLite type
// database, virtualport built, document serialised (interface) or the domain scanned and edited in place (rewrite).
// No baseline: the targets are absolute (≥ 20,000 interface XML/s; ≥ 40,000 interface XML/s rewritten in domains).
import { openDatabase } from '../src/store/db.js';
import { TypeService } from '../src/vtdb/type-service.js';
import { directInterfaceXml } from '../src/libvirt/interface-xml.js';
import { rewriteDomainXml } from '../src/libvirt/domain-rewrite.js';
import { BENCH_TYPE, nicIdentity } from './common.js';
import { fmt, type BenchRow } from './table.js';

const TARGET = 20_000;
const REWRITE_TARGET = 40_000;
const MAX_MS = 3000;

/** A realistic domain: a disk, NICS_PER_DOMAIN macvtap NICs named in qbg's metadata, comments kept. */
export function domainXml(vm: number, nics: number): string {
  const ids = Array.from({ length: nics }, (_, k) => nicIdentity(vm * nics + k));
  const vmUuid = `00000000-0000-4000-8000-${vm.toString(16).padStart(12, '0')}`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- defined by the provisioning tool -->
<domain type='kvm'>
  <name>vm-${vm}</name>
  <uuid>${vmUuid}</uuid>
  <metadata>
    <qbg:nics xmlns:qbg="https://qbg.example/xmlns/1">
${ids.map((n) => `      <qbg:nic mac="${n.mac}" profile="${BENCH_TYPE.name}"/>`).join('\n')}
    </qbg:nics>
  </metadata>
  <memory unit='KiB'>2097152</memory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/vm-${vm}.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
${ids
  .map(
    (n) => `    <interface type='direct'>
      <mac address='${n.mac}'/>
      <source dev='eth0' mode='vepa'/>
      <model type='virtio'/>
    </interface>`,
  )
  .join('\n')}
    <console type='pty'/>
  </devices>
</domain>
`;
}

/**
 * Calls per second of fn, by wall clock and by this process's CPU time. On a shared machine the process is often
 * descheduled; CPU time says what one core does when it gets to run, so the target is judged on it.
 * A warm-up first so the JIT has settled.
 */
function rate(fn: (i: number) => void, minMs = 1000): { wall: number; cpu: number } {
  for (let i = 0; i < 2000; i++) fn(i);
  let n = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let el = 0;
  while ((el = performance.now() - t0) < minMs && el < MAX_MS) {
    for (let k = 0; k < 200; k++) fn(n++);
  }
  const c = process.cpuUsage(c0);
  return { wall: n / (el / 1000), cpu: n / ((c.user + c.system) / 1e6) };
}

export async function benchXml(): Promise<BenchRow[]> {
  const db = openDatabase(':memory:');
  try {
    const types = new TypeService(db);
    types.create({ ...BENCH_TYPE });
    let sink = 0;
    const perIface = rate((i) => {
      const n = nicIdentity(i & 0xffff);
      sink += directInterfaceXml(types, { profile: BENCH_TYPE.name, uplink: 'eth0', mac: n.mac, vmUuid: n.vmUuid }).length;
    });
    const NICS = 4;
    const docs = Array.from({ length: 64 }, (_, vm) => domainXml(vm, NICS));
    const check = rewriteDomainXml(types, docs[0]);
    if (check.changes.length !== NICS || check.changes.some((c) => c.action !== 'added')) throw new Error('rewrite bench: the domain was not rewritten as expected');
    const perDomain = rate((i) => {
      sink += rewriteDomainXml(types, docs[i & 63]).xml.length;
    });
    if (sink === 0) throw new Error('nothing generated');
    const rewriteNics = { wall: perDomain.wall * NICS, cpu: perDomain.cpu * NICS };
    return [
      {
        what: 'interface XML generation (type lookup + virtualport + serialise)',
        baseline: '—',
        qbg: `${fmt.int(perIface.cpu)} XML/s of CPU (${fmt.int(perIface.wall)}/s wall clock)`,
        ratio: fmt.x(perIface.cpu / TARGET, 'target'),
        target: `≥ ${fmt.int(TARGET)} XML/s`,
        met: perIface.cpu >= TARGET,
      },
      {
        what: `domain rewrite (${NICS} macvtap NICs, ${(docs[0].length / 1024).toFixed(1)} KiB domain)`,
        baseline: '—',
        qbg: `${fmt.int(rewriteNics.cpu)} interface XML/s of CPU (${fmt.int(perDomain.cpu)} domains/s; ${fmt.int(rewriteNics.wall)}/s wall clock)`,
        ratio: fmt.x(rewriteNics.cpu / REWRITE_TARGET, 'target'),
        target: `≥ ${fmt.int(REWRITE_TARGET)} interface XML/s`,
        met: rewriteNics.cpu >= REWRITE_TARGET,
      },
    ];
  } finally {
    db.close();
  }
}
