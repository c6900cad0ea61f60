// Profile files: one VSI type per YAML or JSON file (JSON is read by the YAML parser too, so both get line
// numbers). Parsing is pure — the server validates uploaded batches with it — and reading/writing directories is
// the CLI's side. An error names file, line and field: "profiles/web.yaml:4: typeId must be …".
import { readdir, readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, stringify, type Node } from 'yaml';
import { isQbgError, QbgError, qbgError } from '../domain/errors.js';
import { checkVsiTypeSpec, specToProfile, type VsiTypeSpec } from '../domain/vsi-type.js';
import { codePointName, escapeControls, findControlChar } from '../domain/printable.js';
import type { ImportItem } from './type-service.js';

export const PROFILE_EXTENSIONS = ['.yaml', '.yml', '.json'] as const;
export const MAX_PROFILE_BYTES = 64 * 1024;

export interface ProfileSource {
  /** Shown in errors as given, e.g. "profiles/web.yaml". */
  file: string;
  content: string;
}

export interface ProfileProblem {
  file: string;
  line?: number;
  field?: string;
  message: string;
}

/** "a.b[2].c" → ["a", "b", 2, "c"] */
function fieldPath(field: string): Array<string | number> {
  const out: Array<string | number> = [];
  for (const m of field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : m[1]);
  return out;
}

/** Line (1-based) of the deepest node of `field` found in the document; the document's first line otherwise. */
function lineOfField(root: Node | null | undefined, lc: LineCounter, field: string): number | undefined {
  let node: unknown = root;
  let offset: number | undefined = (root as Node | undefined)?.range?.[0];
  for (const seg of fieldPath(field)) {
    if (isMap(node) && typeof seg === 'string') {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === seg);
      if (!pair) break;
      offset = (isScalar(pair.key) ? pair.key.range?.[0] : undefined) ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  return offset === undefined ? undefined : lc.linePos(offset).line;
}

function problem(file: string, line: number | undefined, message: string, field?: string): QbgError {
  const where = line === undefined ? file : `${file}:${line}`;
  return new QbgError('QBG_ERR_PROFILE_FILE', `${where}: ${message}`, {
    field,
    details: { errors: [{ file, ...(line !== undefined ? { line } : {}), ...(field ? { field } : {}), message }] },
  });
}

/** Parses and validates one profile file; throws QBG_ERR_PROFILE_FILE naming file, line and field. */
export function parseProfileSource(src: ProfileSource): ImportItem {
  const { file, content } = src;
  // the name is printed with every error and import outcome
  const named = findControlChar(file);
  if (named) throw problem(escapeControls(file), undefined, `the file name has a control character (${codePointName(named.code)} at index ${named.index})`, 'file');
  if (Buffer.byteLength(content) > MAX_PROFILE_BYTES) throw problem(file, undefined, `file is larger than ${MAX_PROFILE_BYTES} bytes`);
  const lc = new LineCounter();
  const docs = parseAllDocuments(content, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (!Array.isArray(docs)) throw problem(file, undefined, 'file is empty: expected one VSI type (name, typeId, typeIdVersion, managerId…)');
  if (docs.length === 0) throw problem(file, undefined, 'file is empty: expected one VSI type (name, typeId, typeIdVersion, managerId…)');
  if (docs.length > 1) throw problem(file, lc.linePos(docs[1].range[0]).line, 'one VSI type per file: found a second YAML document');
  const doc = docs[0];
  const bad = doc.errors[0];
  if (bad) {
    throw problem(file, lc.linePos(bad.pos[0]).line, bad.message.split('\n')[0]);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 10 });
  } catch (e) {
    // the yaml package throws (not reports) an alias bomb or an alias without its anchor: still the file's fault
    throw problem(file, undefined, (e as Error).message.split('\n')[0]);
  }
  if (value === null || value === undefined) throw problem(file, undefined, 'file is empty: expected one VSI type (name, typeId, typeIdVersion, managerId…)');
  const lineOf = (field: string) => lineOfField(doc.contents as Node | null, lc, field);
  const { spec, problems } = checkVsiTypeSpec(value);
  if (!spec) {
    // every bad field of the file, in one go: fixing one at a time and re-running is what wastes an admin's hour
    const all = problems
      .map((e) => ({ file, line: e.field !== undefined ? lineOf(e.field) : lineOf(''), field: e.field, message: e.message }))
      .sort((x, y) => (x.line ?? 0) - (y.line ?? 0));
    const first = problem(file, all[0].line, all[0].message, all[0].field);
    first.details!.errors = all.map((p) => ({ file, ...(p.line !== undefined ? { line: p.line } : {}), ...(p.field ? { field: p.field } : {}), message: p.message }));
    throw first;
  }
  return { source: file, spec, lineOf };
}

/**
 * Validates ALL sources before anything is stored: returns them all parsed, or throws one QBG_ERR_PROFILE_FILE
 * whose message is the first problem and whose details.errors lists every problem.
 */
export function parseProfileSources(sources: readonly ProfileSource[]): ImportItem[] {
  if (sources.length === 0) throw qbgError('QBG_ERR_PROFILE_FILE', 'import', 'no profile files given (*.yaml, *.yml, *.json)');
  const items: ImportItem[] = [];
  const problems: ProfileProblem[] = [];
  let first: QbgError | undefined;
  for (const src of sources) {
    try {
      items.push(parseProfileSource(src));
    } catch (e) {
      if (!isQbgError(e)) throw e;
      first ??= e;
      problems.push(...((e.details?.errors as ProfileProblem[] | undefined) ?? [{ file: src.file, message: e.message }]));
    }
  }
  problems.push(...duplicates(items));
  if (first === undefined && problems.length > 0) {
    const p = problems[0];
    first = new QbgError('QBG_ERR_PROFILE_FILE', `${p.line === undefined ? p.file : `${p.file}:${p.line}`}: ${p.message}`, { field: p.field });
  }
  if (first) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem(s); nothing imported)` : ' (nothing imported)';
    throw new QbgError('QBG_ERR_PROFILE_FILE', first.message + more, { field: first.field, details: { errors: problems } });
  }
  return items;
}

/**
 * A VSI type version given by two files: which one should win is a guess, so neither does. Two files of one name
 * are fine as distinct versions (what `export --all-versions` writes) with the same typeId (which stays across versions).
 */
function duplicates(items: readonly ImportItem[]): ProfileProblem[] {
  const out: ProfileProblem[] = [];
  const seen = new Map<string, ImportItem>();
  const at = (i: ImportItem) => {
    const line = i.lineOf?.('name');
    return { file: i.source, ...(line !== undefined ? { line } : {}), where: line === undefined ? i.source : `${i.source}:${line}` };
  };
  for (const item of items) {
    const before = seen.get(item.spec.name);
    if (!before) {
      seen.set(item.spec.name, item);
      continue;
    }
    const a = at(before);
    const b = at(item);
    const sameVersion = before.spec.typeIdVersion === item.spec.typeIdVersion;
    if (sameVersion || before.spec.typeId !== item.spec.typeId) {
      const why = sameVersion
        ? `typeIdVersion ${item.spec.typeIdVersion} of VSI type ${item.spec.name} is in two files: ${a.where} and ${b.where}`
        : `VSI type ${item.spec.name} has typeId ${before.spec.typeId} in ${a.where} but ${item.spec.typeId} in ${b.where} (a type keeps its typeId across versions)`;
      out.push({ file: b.file, ...(b.line !== undefined ? { line: b.line } : {}), field: 'name', message: `duplicate: ${why}` });
    }
  }
  return out;
}

const byNaturalName = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

/** Reads one profile file, or every *.yaml/*.yml/*.json in a directory (not recursive), in natural name order. */
export async function readProfileSources(path: string): Promise<ProfileSource[]> {
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    throw qbgError('QBG_ERR_PROFILE_FILE', path, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const files = st.isDirectory()
    ? (await readdir(path))
        .filter((f) => PROFILE_EXTENSIONS.some((ext) => f.toLowerCase().endsWith(ext)))
        .sort(byNaturalName)
        .map((f) => join(path, f))
    : [path];
  if (files.length === 0) throw qbgError('QBG_ERR_PROFILE_FILE', path, 'no profile files (*.yaml, *.yml, *.json) in this directory');
  return Promise.all(files.map(async (file) => ({ file, content: await readFile(file, 'utf8') })));
}

export type ProfileFormat = 'yaml' | 'json';

/** The text of a profile file for one version (what import reads back to the same spec). */
export function formatProfile(spec: VsiTypeSpec, format: ProfileFormat = 'yaml'): string {
  const profile = specToProfile(spec);
  if (format === 'json') return JSON.stringify(profile, null, 2) + '\n';
  return `# VSI type ${spec.name}, typeIdVersion ${spec.typeIdVersion} (qbg profile file)\n` + stringify(profile);
}

/**
 * Export: one file per type with its current version (`<name>.yaml`), or with allVersions one file per version
 * (`<name>.001.yaml`, `<name>.002.yaml`, … in the order they were made, so importing the directory re-creates
 * the history with the same current version). `types` is each type's versions in history order.
 */
export async function writeProfiles(
  dir: string,
  types: ReadonlyArray<readonly VsiTypeSpec[]>,
  opts: { allVersions?: boolean; format?: ProfileFormat } = {},
): Promise<string[]> {
  const format = opts.format ?? 'yaml';
  const ext = format === 'json' ? '.json' : '.yaml';
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const versions of types) {
    if (versions.length === 0) continue;
    const chosen = opts.allVersions ? versions : [versions[versions.length - 1]];
    for (const [i, spec] of chosen.entries()) {
      const base = opts.allVersions ? `${spec.name}.${String(i + 1).padStart(3, '0')}` : spec.name;
      const file = join(dir, base + ext);
      await writeFile(file, formatProfile(spec, format));
      written.push(file);
    }
  }
  return written;
}
