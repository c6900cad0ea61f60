// `qbg profile`: the VSI type database (profiles) through the running qbg's API.
//   qbg profile list                              every type, current version
//   qbg profile show NAME [--version N]           one type (or one of its versions)
//   qbg profile add --file F | --name … flags     create a type
//   qbg profile edit NAME flags                   change it: a new version when parameters change
//   qbg profile rm NAME                           delete it with all versions
//   qbg profile import DIR|FILE                   profile files, all or nothing
//   qbg profile export DIR [--all-versions] [--format yaml|json]
import { formatManagerId2 } from '../domain/identifiers.js';
import { formatVlanRanges, specToProfile, type VsiTypeVersion } from '../domain/vsi-type.js';
import { parseProfileSource, parseProfileSources, readProfileSources, writeProfiles } from '../vtdb/profile-files.js';
import type { ImportOutcome } from '../vtdb/type-service.js';
import { flagString, parseArgs, requireFlags, type FlagSpec, type ParsedArgs, numberOrText } from './args.js';
import { callApi, printJsonOr, table, UsageError, type CliIo } from './io.js';

export const PROFILE_HELP = `qbg profile list [--json]
qbg profile show NAME [--type-version N] [--json]
qbg profile add --file FILE | --name NAME (--manager-id 0-255 | --manager-id2 ID) --type-id 0-16777215
                --type-version 0-255 [--filter-format vlan-mac|vlan-mac-group|vlan|vlan-group] [--vlans 100,200-210]
                [--group-id 1-4294967295 (with vlan-group / vlan-mac-group)] [--description TEXT]
qbg profile edit NAME [same flags as add, without --name; --type-version defaults to the next free one]
                [--base-version N]   refuse if the type is no longer at version N (another admin changed it)
qbg profile rm NAME [--base-version N]
qbg profile import DIR|FILE          *.yaml/*.yml/*.json, one VSI type per file; all validated, then all stored
                                     (every bad field of every file listed; a type version in two files is a duplicate)
qbg profile export DIR [--all-versions] [--format yaml|json]

A VSI type keeps its name and typeId; each change of parameters is a new version (typeIdVersion 0-255), and old
versions stay readable. managerId2 is the 16-byte VDP22 manager id (32 hex digits, an IPv4/IPv6 address, or 1-16
printable ASCII characters as ascii:TEXT); libvirt can only express the one-byte managerId. Filter formats are the
four of 802.1Qbg: vlan (VID), vlan-mac (MAC/VID), vlan-group (group id/VID), vlan-mac-group (group id/MAC/VID).`;

const enc = encodeURIComponent;

const SPEC_FLAGS: Record<string, FlagSpec> = {
  name: { value: true },
  'manager-id': { value: true },
  'manager-id2': { value: true },
  'type-id': { value: true },
  'type-version': { value: true },
  'filter-format': { value: true },
  vlans: { value: true },
  'group-id': { value: true },
  description: { value: true },
  json: { value: false },
};

/** flag → API field; numbers typed so the API's schema sees what the user meant (and names the range if not). */
const FLAG_FIELDS: Array<[flag: string, field: string, numeric: boolean]> = [
  ['name', 'name', false],
  ['manager-id', 'managerId', true],
  ['manager-id2', 'managerId2', false],
  ['type-id', 'typeId', true],
  ['type-version', 'typeIdVersion', true],
  ['filter-format', 'filterFormat', false],
  ['group-id', 'groupId', true],
  ['description', 'description', false],
];


function bodyFromFlags(p: ParsedArgs): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [flag, field, numeric] of FLAG_FIELDS) {
    const v = flagString(p, flag);
    if (v !== undefined) body[field] = numeric ? numberOrText(v) : v;
  }
  const vlans = flagString(p, 'vlans');
  if (vlans !== undefined) {
    // "any" (or empty) clears the list: a NIC of this type may then use any VLAN.
    body.allowedVlans = vlans.trim() === '' || vlans.trim() === 'any' ? [] : vlans.split(',').map((s) => numberOrText(s.trim()));
  }
  return body;
}

/** --base-version N: refuse (409) if the type moved on from version N since it was read (another admin, another host). */
function baseQuery(p: ParsedArgs): string {
  const v = flagString(p, 'base-version');
  return v === undefined ? '' : `?baseVersion=${enc(v)}`;
}

function withJson(io: CliIo, p: ParsedArgs): CliIo {
  return p.flags.json === true && !io.json ? { ...io, json: true } : io;
}

/** A 16-byte manager id in the form an admin typed (number, address, ascii:TEXT); the hex if it is not canonical. */
function managerIdText(mgrid2: string): string {
  try {
    return formatManagerId2(mgrid2).text;
  } catch {
    return mgrid2;
  }
}

function managerText(v: VsiTypeVersion): string {
  return v.managerId !== undefined ? String(v.managerId) : `mgrid2 ${managerIdText(v.managerId2)}`;
}

function describe(v: VsiTypeVersion, versions?: number[]): string {
  const rows: Array<[string, string]> = [
    ['description', v.description || '-'],
    ['manager id', v.managerId !== undefined ? `${v.managerId} (managerId2 ${v.managerId2})` : `${managerIdText(v.managerId2)} (16 bytes ${v.managerId2}; libvirt cannot express it)`],
    ['type id', String(v.typeId)],
    ['type version', String(v.typeIdVersion)],
    ['filter format', v.filterFormat],
    ['allowed VLANs', formatVlanRanges(v.allowedVlans)],
  ];
  if (v.groupId !== undefined) rows.push(['group id', String(v.groupId)]);
  rows.push(['created', v.createdAt]);
  const head = versions ? `VSI type ${v.name} (current version ${v.typeIdVersion}; versions ${versions.join(', ')})` : `VSI type ${v.name}, version ${v.typeIdVersion}`;
  return [head, ...rows.map(([k, val]) => `  ${k.padEnd(14)} ${val}`)].join('\n');
}

function need(name: string | undefined, what: string): string {
  if (!name) throw new UsageError(`qbg profile ${what} needs the VSI type NAME`);
  return name;
}

/** Local check of profile files before sending (the server checks again): every problem, with file and line. */
function validateLocally(sources: Parameters<typeof parseProfileSources>[0]): void {
  parseProfileSources(sources); // throws one error listing them all (main prints each)
}

export async function profileCommand(args: string[], baseIo: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'list':
    case 'ls': {
      const io = withJson(baseIo, parseArgs(rest, { json: { value: false } }));
      const { types } = await callApi<{ types: VsiTypeVersion[] }>(io, 'GET', '/types');
      printJsonOr(io, { types }, () =>
        table(
          types.map((v) => ({
            name: v.name,
            version: v.typeIdVersion,
            manager: managerText(v),
            typeId: v.typeId,
            filter: v.filterFormat,
            vlans: formatVlanRanges(v.allowedVlans),
            description: v.description,
          })),
          ['name', 'version', 'manager', 'typeId', 'filter', 'vlans', 'description'],
        ),
      );
      return 0;
    }
    case 'show': {
      // `qbg --version` is global (main takes it first), so through main the version is --type-version.
      const p = parseArgs(rest, { 'type-version': { value: true }, version: { value: true }, json: { value: false } });
      const io = withJson(baseIo, p);
      const name = need(p.positionals[0], 'show');
      const version = flagString(p, 'type-version') ?? flagString(p, 'version');
      if (version !== undefined) {
        const v = await callApi<VsiTypeVersion>(io, 'GET', `/types/${enc(name)}/versions/${enc(version)}`);
        printJsonOr(io, v, () => describe(v));
      } else {
        const v = await callApi<VsiTypeVersion & { versions: number[] }>(io, 'GET', `/types/${enc(name)}`);
        printJsonOr(io, v, () => describe(v, v.versions));
      }
      return 0;
    }
    case 'add': {
      const p = parseArgs(rest, { ...SPEC_FLAGS, file: { value: true } });
      const io = withJson(baseIo, p);
      const file = flagString(p, 'file');
      let body: Record<string, unknown>;
      if (file !== undefined) {
        if (Object.keys(bodyFromFlags(p)).length > 0) throw new UsageError('give either --file or the type flags, not both');
        const [src] = await readProfileSources(file);
        body = specToProfile(parseProfileSource(src).spec);
      } else {
        if (flagString(p, 'name') === undefined) throw new UsageError('qbg profile add needs --file FILE or --name NAME with the type flags');
        requireFlags(p, ['type-id', 'type-version']);
        if (flagString(p, 'manager-id') === undefined && flagString(p, 'manager-id2') === undefined) throw new UsageError('--manager-id or --manager-id2 is required');
        body = bodyFromFlags(p);
      }
      const v = await callApi<VsiTypeVersion>(io, 'POST', '/types', body);
      printJsonOr(io, v, () => `created VSI type ${v.name} version ${v.typeIdVersion}\n${describe(v)}`);
      return 0;
    }
    case 'edit': {
      const p = parseArgs(rest, { ...SPEC_FLAGS, 'base-version': { value: true } });
      const io = withJson(baseIo, p);
      const name = need(p.positionals[0], 'edit');
      const body = bodyFromFlags(p);
      if (Object.keys(body).length === 0) throw new UsageError('qbg profile edit NAME needs at least one flag to change (see qbg profile --help)');
      const r = await callApi<{ changed: boolean; message: string; type: VsiTypeVersion }>(io, 'PUT', `/types/${enc(name)}${baseQuery(p)}`, body);
      printJsonOr(io, r, () => (r.changed ? `${r.message}\n${describe(r.type)}` : r.message));
      return 0;
    }
    case 'rm':
    case 'delete': {
      const p = parseArgs(rest, { json: { value: false }, 'base-version': { value: true } });
      const io = withJson(baseIo, p);
      const name = need(p.positionals[0], 'rm');
      const r = await callApi<{ name: string; versions: number }>(io, 'DELETE', `/types/${enc(name)}${baseQuery(p)}`);
      printJsonOr(io, r, () => `deleted VSI type ${r.name} (${r.versions} version${r.versions === 1 ? '' : 's'})`);
      return 0;
    }
    case 'import': {
      const p = parseArgs(rest, { json: { value: false } });
      const io = withJson(baseIo, p);
      const path = p.positionals[0];
      if (!path) throw new UsageError('qbg profile import needs a DIR or FILE');
      const files = await readProfileSources(path);
      validateLocally(files);
      const r = await callApi<{ imported: ImportOutcome[] }>(io, 'POST', '/types/import', { files });
      printJsonOr(io, r, () => {
        const n = (a: ImportOutcome['action']) => r.imported.filter((i) => i.action === a).length;
        return `${table(
          r.imported.map((i) => ({ file: i.source, name: i.name, version: i.typeIdVersion, action: i.action })),
          ['file', 'name', 'version', 'action'],
        )}\nimported ${r.imported.length} file(s): ${n('created')} created, ${n('new-version')} new version(s), ${n('unchanged')} unchanged`;
      });
      return 0;
    }
    case 'export': {
      const p = parseArgs(rest, { 'all-versions': { value: false }, format: { value: true }, json: { value: false } });
      const io = withJson(baseIo, p);
      const dir = p.positionals[0];
      if (!dir) throw new UsageError('qbg profile export needs a DIR');
      const format = flagString(p, 'format') ?? 'yaml';
      if (format !== 'yaml' && format !== 'json') throw new UsageError(`--format must be yaml or json, got ${format}`);
      const allVersions = p.flags['all-versions'] === true;
      const { types } = await callApi<{ types: VsiTypeVersion[] }>(io, 'GET', '/types');
      const histories: VsiTypeVersion[][] = [];
      for (const t of types) {
        if (!allVersions) histories.push([t]);
        else histories.push((await callApi<{ versions: VsiTypeVersion[] }>(io, 'GET', `/types/${enc(t.name)}/versions`)).versions);
      }
      const written = await writeProfiles(dir, histories, { allVersions, format });
      printJsonOr(io, { written }, () => `wrote ${written.length} profile file(s) for ${types.length} VSI type(s) to ${dir}`);
      return 0;
    }
    case undefined:
    case 'help':
      baseIo.out(PROFILE_HELP);
      return sub === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown profile command "${sub}" (list, show, add, edit, rm, import, export)`);
  }
}
