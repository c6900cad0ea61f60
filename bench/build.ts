// Compiled JavaScript for the benchmark servers. qbg runs compiled in production (`node dist/…`); under tsx the
// loader thread alone adds ~35 MB of resident memory and its transform hooks sit on the startup path, which would
// measure tsx, not qbg. esbuild (already here as tsx's engine) transpiles file by file — no bundling, so every
// import.meta.url-relative asset (clif-helper.py, UI files) keeps its place — into node_modules/.cache, where
// bare imports still resolve to the project's node_modules.
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// One tree per checkout: git worktrees share node_modules (a symlink), and two runs must not overwrite each other.
const OUT = join(REPO, 'node_modules', '.cache', `qbg-bench-${createHash('sha1').update(REPO).digest('hex').slice(0, 8)}`);

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

/** The node flags the `qbg` command runs with: those of its shebang (src/cli/main.ts), the one place they are set. */
export function qbgNodeFlags(): string[] {
  const shebang = readFileSync(join(REPO, 'src/cli/main.ts'), 'utf8').split('\n', 1)[0];
  const m = /^#!\/usr\/bin\/env -S node((?: --[\w-]+(?:=\S+)?)*)$/.exec(shebang);
  if (!m) throw new Error(`src/cli/main.ts: expected a "#!/usr/bin/env -S node --flag…" line, found ${JSON.stringify(shebang)}`);
  return m[1].split(' ').filter(Boolean);
}

let built: Promise<string> | undefined;

/** Transpile src/ and bench/ once per run; resolves with the output root (mirrors the repository layout). */
export function compiledTree(): Promise<string> {
  built ??= (async () => {
    const { build } = await import('esbuild');
    rmSync(OUT, { recursive: true, force: true });
    mkdirSync(OUT, { recursive: true });
    const files = [...walk(join(REPO, 'src')), ...walk(join(REPO, 'bench'))];
    const ts = files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
    await build({ entryPoints: ts, outdir: OUT, outbase: REPO, format: 'esm', platform: 'node', target: 'node20', bundle: false, logLevel: 'error' });
    for (const f of files.filter((f) => !f.endsWith('.ts'))) {
      const to = join(OUT, relative(REPO, f));
      mkdirSync(dirname(to), { recursive: true });
      cpSync(f, to);
    }
    // Inside node_modules the package scope of /package.json ("type": "module") no longer applies.
    writeFileSync(join(OUT, 'package.json'), '{ "type": "module" }\n');
    return OUT;
  })();
  return built;
}

/** Path of the compiled .js of a repository .ts file, e.g. compiledPath(root, 'bench/serve-child.ts'). */
export function compiledPath(root: string, repoRelativeTs: string): string {
  return join(root, repoRelativeTs.replace(/\.ts$/, '.js'));
}
