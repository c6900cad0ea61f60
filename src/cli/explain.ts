// `qbg explain DOMAIN.xml|- [--default-uplink DEV] [--json]`: asks the running qbg (POST /explain) what it would do
// for each NIC of the domain and what would make its start fail, before the VM is started. Exit 0 when nothing
// would, 1 when something would (or qbg cannot be asked), 2 for a usage mistake.
import { readFile } from 'node:fs/promises';
import { fieldError } from '../domain/errors.js';
import type { ExplainResult } from '../libvirt/explain.js';
import type { LibvirtdFacts } from '../libvirt/explain.js';
import { flagString, parseArgs } from './args.js';
import { callApi, UsageError, type CliIo } from './io.js';

type Answer = ExplainResult & { host: { lldpad: { ok: boolean; pid?: number }; libvirtd: LibvirtdFacts | null } };

export async function explainCommand(args: string[], io: CliIo): Promise<number> {
  const p = parseArgs(args, { 'default-uplink': { value: true } });
  if (p.positionals.length !== 1) throw new UsageError('qbg explain takes one domain XML FILE (or - for stdin)');
  const file = p.positionals[0];
  let xml: string;
  if (file === '-') xml = await io.readStdin();
  else {
    try {
      xml = await readFile(file, 'utf8');
    } catch (e) {
      throw fieldError('file', 'QBG_ERR_BAD_REQUEST', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  if (xml === '') throw new UsageError(`${file === '-' ? 'stdin' : file} is empty: give a domain XML`);
  const defaultUplink = flagString(p, 'default-uplink');
  const r = await callApi<Answer>(io, 'POST', '/explain', { xml, ...(defaultUplink !== undefined ? { defaultUplink } : {}) });
  io.out(io.json ? JSON.stringify(r, null, 2) : human(r));
  return r.ok ? 0 : 1;
}

function human(r: Answer): string {
  const lines: string[] = [];
  const vm = [r.domain.name, r.domain.uuid].filter(Boolean).join(' ') || '(unnamed domain)';
  const lv = r.host.libvirtd;
  lines.push(`domain ${vm}; lldpad ${r.host.lldpad.ok ? `up (pid ${r.host.lldpad.pid ?? '?'})` : 'DOWN'}; libvirtd ${lv ? `${lv.version ?? 'version unknown'} (pid ${lv.pid}${lv.portShim ? ', netlink port shim loaded' : ''})` : 'not found'}`);
  for (const n of r.nics) {
    if (n.owner === 'none') {
      lines.push(`  NIC ${n.mac} (${n.interfaceType}): not a qbg or 802.1Qbg NIC, nothing to do`);
      continue;
    }
    const type = n.type ? `VSI type ${n.type.name} v${n.type.typeIdVersion} (typeid ${n.type.typeId})` : 'VSI type unknown';
    lines.push(`  NIC ${n.mac} (${n.interfaceType}${n.mode ? ` ${n.mode}` : ''}): ${n.owner === 'qbg' ? 'qbg associates it (hook)' : 'libvirt announces it (netlink)'} [owner from ${n.ownerFrom}], ${type}, VLAN ${n.vlan}, uplink ${n.uplink ?? 'unknown'}`);
  }
  for (const f of r.findings) {
    lines.push(`${f.severity} ${f.code}${f.nic ? ` NIC ${f.nic}` : ''} (${f.field}): ${f.message}`);
    lines.push(`    what to do: ${f.fix}`);
  }
  lines.push(r.ok ? 'ok: nothing found that would make the start fail' : 'would fail: see the errors above');
  return lines.join('\n');
}
