// `qbg xml …`: libvirt XML from the running qbg (same validation and type database as the API).
//   qbg xml interface --profile NAME --uplink DEV --mac MAC [--vm-uuid U] [--mode vepa] [--profile-version N] [--model M] [--instance-id U]
//   qbg xml interface-network --network N [--portgroup P] --mac MAC [--vm-uuid U] [--instance-id U] [--model M] [--profile NAME [--profile-version N]]
//   qbg xml network --name N --uplink DEV... --portgroup NAME=PROFILE[@VERSION]... [--default-portgroup NAME] [--uuid U]
//   qbg xml network FILE|-      a network XML written back the way libvirt writes it (local: no service needed)
//   qbg xml rewrite [FILE|-] [--vm-uuid U] [--network NAME=FILE...]      (stdin when FILE is - or absent)
//   qbg xml merge --interface FILE --network FILE
//   qbg xml check [FILE|-] [--kind domain|network|networkport] [--network FILE]   (local: no service needed;
//                 --network: a port's allocation on it, or a domain's start on it)
// XML goes to stdout; with --json a program gets JSON instead ({xml, changes} for rewrite).
// A typeIdVersion is pinned with --profile-version N or --profile NAME@N (`--version` is qbg's global flag).
import { readFile } from 'node:fs/promises';
import { fieldError } from '../domain/errors.js';
import { checkLibvirtXml, XML_KINDS, type XmlKind } from '../libvirt/xml-check.js';
import { formatNetworkXml } from '../libvirt/network-format.js';
import { flagList, flagString, parseArgs, type FlagSpec, type ParsedArgs, numberOrText } from './args.js';
import { callApi, UsageError, type CliIo } from './io.js';

const SUBCOMMANDS = ['interface', 'interface-network', 'network', 'rewrite', 'merge', 'check'] as const;

const v = (multiple = false): FlagSpec => ({ value: true, multiple });

function required(p: ParsedArgs, flag: string): string {
  const s = flagString(p, flag);
  if (s === undefined || s === '') throw new UsageError(`--${flag} is required`);
  return s;
}

/** Drop undefined values so the API sees only what was given. */
function defined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined));
}

async function readInput(io: CliIo, file: string | undefined, field: string): Promise<string> {
  if (file === undefined || file === '-') return io.readStdin();
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw fieldError(field, 'QBG_ERR_BAD_REQUEST', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** NAME=VALUE pairs of a repeatable flag. */
function pairs(p: ParsedArgs, flag: string, shape: string): Array<[string, string]> {
  return flagList(p, flag).map((s) => {
    const eq = s.indexOf('=');
    if (eq <= 0 || eq === s.length - 1) throw new UsageError(`--${flag} takes ${shape}, got "${s}"`);
    return [s.slice(0, eq), s.slice(eq + 1)];
  });
}

/** --profile NAME[@N] and --profile-version N as the API's {profile, version}. */
function profileOf(p: ParsedArgs, needed: boolean): { profile?: string; version?: number | string } {
  const raw = needed ? required(p, 'profile') : flagString(p, 'profile');
  const pinned = flagString(p, 'profile-version');
  if (raw === undefined) {
    if (pinned !== undefined) throw new UsageError('--profile-version needs --profile');
    return {};
  }
  const at = raw.lastIndexOf('@');
  if (at > 0 && pinned !== undefined) throw new UsageError('give the version once: --profile NAME@N or --profile-version N');
  return at > 0
    ? { profile: raw.slice(0, at), version: numberOrText(raw.slice(at + 1)) }
    : (defined({ profile: raw, version: pinned === undefined ? undefined : numberOrText(pinned) }) as { profile: string; version?: number | string });
}

async function printXml(io: CliIo, method: string, path: string, body: unknown): Promise<number> {
  const xml = await callApi<string>(io, method, path, body, { raw: true });
  io.out(io.json ? JSON.stringify({ xml }) : xml);
  return 0;
}

export async function xmlCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (!(SUBCOMMANDS as readonly (string | undefined)[]).includes(sub)) {
    throw new UsageError(sub === undefined ? `qbg xml needs a subcommand: ${SUBCOMMANDS.join(', ')}` : `unknown xml subcommand "${sub}" (${SUBCOMMANDS.join(', ')})`);
  }
  switch (sub as (typeof SUBCOMMANDS)[number]) {
    case 'interface': {
      const p = parseArgs(rest, { profile: v(), 'profile-version': v(), uplink: v(), mac: v(), 'vm-uuid': v(), mode: v(), model: v(), 'instance-id': v() });
      if (p.positionals.length) throw new UsageError(`unexpected argument "${p.positionals[0]}"`);
      return printXml(io, 'POST', '/xml/interface', defined({
        ...profileOf(p, true),
        uplink: required(p, 'uplink'),
        mac: required(p, 'mac'),
        vmUuid: flagString(p, 'vm-uuid'),
        mode: flagString(p, 'mode'),
        model: flagString(p, 'model'),
        instanceId: flagString(p, 'instance-id'),
      }));
    }
    case 'interface-network': {
      const p = parseArgs(rest, { network: v(), portgroup: v(), mac: v(), 'vm-uuid': v(), 'instance-id': v(), model: v(), profile: v(), 'profile-version': v() });
      if (p.positionals.length) throw new UsageError(`unexpected argument "${p.positionals[0]}"`);
      return printXml(io, 'POST', '/xml/interface-network', defined({
        network: required(p, 'network'),
        portgroup: flagString(p, 'portgroup'),
        mac: required(p, 'mac'),
        vmUuid: flagString(p, 'vm-uuid'),
        instanceId: flagString(p, 'instance-id'),
        model: flagString(p, 'model'),
        ...profileOf(p, false),
      }));
    }
    case 'network': {
      const p = parseArgs(rest, { name: v(), uplink: v(true), portgroup: v(true), 'default-portgroup': v(), uuid: v() });
      if (p.positionals.length === 1 && Object.keys(p.flags).length === 0) {
        // a network XML read and written back the way libvirt writes it (net-dumpxml); local, no service needed
        const r = formatNetworkXml(await readInput(io, p.positionals[0], 'file'));
        if (io.json) io.out(JSON.stringify(r));
        else {
          io.out(r.xml.replace(/\n$/, ''));
          if (r.uuidGenerated) io.err('qbg: the network had no <uuid>: a random one was made up, as libvirt does at net-define');
        }
        return 0;
      }
      if (p.positionals.length) throw new UsageError(`unexpected argument "${p.positionals[0]}" (qbg xml network FILE takes no flags)`);
      const def = flagString(p, 'default-portgroup');
      const portgroups = pairs(p, 'portgroup', 'NAME=PROFILE[@VERSION]').map(([name, prof]) => {
        const at = prof.lastIndexOf('@');
        const profile = at > 0 ? prof.slice(0, at) : prof;
        return defined({ name, profile, version: at > 0 ? numberOrText(prof.slice(at + 1)) : undefined, default: name === def ? true : undefined });
      });
      if (def !== undefined && !portgroups.some((g) => g.name === def)) {
        throw new UsageError(`--default-portgroup ${def} is not one of the --portgroup names`);
      }
      return printXml(io, 'POST', '/xml/network', defined({ name: required(p, 'name'), uuid: flagString(p, 'uuid'), uplinks: flagList(p, 'uplink'), portgroups }));
    }
    case 'rewrite': {
      const p = parseArgs(rest, { 'vm-uuid': v(), network: v(true) });
      if (p.positionals.length > 1) throw new UsageError('rewrite takes one FILE (or - for stdin)');
      const xml = await readInput(io, p.positionals[0], 'file');
      const networks: Record<string, string> = {};
      for (const [name, file] of pairs(p, 'network', 'NAME=FILE')) networks[name] = await readInput(io, file, `network ${name}`);
      const body = defined({ xml, vmUuid: flagString(p, 'vm-uuid'), networks: Object.keys(networks).length ? networks : undefined });
      const result = await callApi<{ xml: string; changes: Array<{ mac: string; profile: string; owner?: string; action: string; virtualport: Record<string, unknown> }> }>(
        io,
        'POST',
        '/xml/rewrite',
        body,
      );
      if (io.json) {
        io.out(JSON.stringify(result, null, 2));
      } else {
        io.out(result.xml);
        // stdout stays the document alone (a hook pipes it on); what changed goes to stderr for the admin
        for (const c of result.changes) {
          const vp = c.virtualport;
          io.err(`qbg: ${c.mac} ${c.action}${c.owner ? ` (owner ${c.owner})` : ''}: profile ${c.profile} managerid ${vp.managerId} typeid ${vp.typeId} typeidversion ${vp.typeIdVersion} instanceid ${vp.instanceId}`);
        }
      }
      return 0;
    }
    case 'check': {
      // Runs here, not through the service: a check needs no type database, and an admin checks a file before
      // any qbg runs. POST /xml/check gives the same answer over HTTP.
      const p = parseArgs(rest, { kind: v(), network: v() });
      if (p.positionals.length > 1) throw new UsageError('check takes one FILE (or - for stdin)');
      const kind = flagString(p, 'kind');
      if (kind !== undefined && !(XML_KINDS as readonly string[]).includes(kind)) throw new UsageError(`--kind must be ${XML_KINDS.join(', ')}, got "${kind}"`);
      const file = p.positionals[0];
      const xml = await readInput(io, file, 'file');
      const networkFile = flagString(p, 'network');
      const network = networkFile === undefined ? undefined : await readInput(io, networkFile, 'network');
      const r = checkLibvirtXml(xml, { kind: kind as XmlKind | undefined, network });
      if (io.json) io.out(JSON.stringify(r, null, 2));
      else if (r.ok) io.out(`ok: libvirt would define this ${r.kind}`);
      else io.out([`refused: libvirt would not define this ${r.kind}`, ...r.violations.map((x) => `  ${x.rule}: ${x.element}: ${x.message}`)].join('\n'));
      return r.ok ? 0 : 1;
    }
    case 'merge': {
      const p = parseArgs(rest, { interface: v(), network: v() });
      if (p.positionals.length) throw new UsageError(`unexpected argument "${p.positionals[0]}"`);
      const body = { interface: await readInput(io, required(p, 'interface'), 'interface'), network: await readInput(io, required(p, 'network'), 'network') };
      const r = await callApi<{ virtualport: { type?: string; parameters: Record<string, unknown>; sources: Record<string, string> } | null }>(io, 'POST', '/xml/merge', body);
      if (io.json) io.out(JSON.stringify(r, null, 2));
      else if (!r.virtualport) io.out('no virtualport: no level names a virtualport type');
      else {
        const lines = Object.entries(r.virtualport.parameters).map(([k, val]) => `${k} ${String(val)} (from ${r.virtualport!.sources[k]})`);
        io.out([`type ${r.virtualport.type} (from ${r.virtualport.sources.type})`, ...lines].join('\n'));
      }
      return 0;
    }
  }
}
