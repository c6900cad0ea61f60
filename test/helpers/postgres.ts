// A real, throw-away PostgreSQL cluster for fleet tests and benchmarks: initdb in a temp dir, the postmaster on a
// free 127.0.0.1 port (and a socket dir of its own), removed again at the end — also when the test process exits
// early. The data directory is a copy of one initdb per server version kept in tmpdir (see templateDataDir). PostgreSQL refuses to run as root, so as root the cluster belongs to an unprivileged user (`nobody`).
// No mocked database: every fleet test talks to this server.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const BIN_DIRS = ['/usr/lib/postgresql'];

/** The newest installed server's bin dir (Debian: /usr/lib/postgresql/<major>/bin). */
export function postgresBinDir(): string {
  for (const root of BIN_DIRS) {
    if (!existsSync(root)) continue;
    const majors = readdirSync(root).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a));
    for (const m of majors) if (existsSync(join(root, m, 'bin', 'postgres'))) return join(root, m, 'bin');
  }
  throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql (Debian package "postgresql"; .ci/install-deps installs it)');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** uid/gid to run PostgreSQL as: ourselves, or `nobody` when we are root. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'nobody']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'nobody']).toString().trim());
  return { uid, gid };
}

const INITDB_ARGS = ['-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions'];

/**
 * initdb takes ~4 s (the bootstrap runs in single-user mode) and makes the same files every time: the first cluster
 * of a server version keeps a pristine data directory under tmpdir, later clusters copy it (`cp -a`, ~0.2 s).
 * Made in a private directory and renamed into place, so test files starting together never see half a template
 * (the loser of the rename uses the winner's); the key names the server version, initdb's options and the owner.
 */
function templateDataDir(bin: string, user: { uid: number; gid: number } | undefined, env: NodeJS.ProcessEnv): string {
  const version = execFileSync(join(bin, 'postgres'), ['--version']).toString().trim();
  const key = createHash('sha256').update(`${version}\n${INITDB_ARGS.join(' ')}\n${user?.uid ?? process.getuid?.()}`).digest('hex').slice(0, 16);
  const template = join(tmpdir(), `qbg-pg-template-${key}`);
  if (existsSync(join(template, 'PG_VERSION'))) return template;
  const work = mkdtempSync(join(tmpdir(), `qbg-pg-template-${key}-new-`));
  try {
    if (user) chownSync(work, user.uid, user.gid);
    execFileSync(join(bin, 'initdb'), ['-D', join(work, 'data'), ...INITDB_ARGS], { ...(user ?? {}), cwd: work, env, stdio: 'pipe' });
    try {
      renameSync(join(work, 'data'), template);
    } catch (e) {
      if (!existsSync(join(template, 'PG_VERSION'))) throw e; // not a lost race
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return template;
}

export interface PgCluster {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  url: string;
  port: number;
  dir: string;
  /** A URL for another database of this cluster. */
  urlFor(database: string): string;
  /** CREATE DATABASE name (a fresh, empty database per test); returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Fast shutdown (SIGINT): connections are cut, data is kept; start() brings it back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  running(): boolean;
  /** Stop and remove everything. */
  destroy(): Promise<void>;
}

export async function startPostgres(opts: { name?: string } = {}): Promise<PgCluster> {
  const bin = postgresBinDir();
  const user = runAs();
  const dir = mkdtempSync(join(tmpdir(), `qbg-pg-${opts.name ?? 'test'}-`));
  const data = join(dir, 'data');
  if (user) chownSync(dir, user.uid, user.gid);
  const spawnOpts = { ...(user ?? {}), cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C' } };
  // a copy of a fresh initdb (ownership and the 0700 mode kept): a cluster of its own at a twentieth of the cost
  execFileSync('cp', ['-a', '--', templateDataDir(bin, user, spawnOpts.env), data], { stdio: 'pipe' });
  const port = await freePort();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let child: ChildProcess | undefined;
  let log = '';

  const start = async () => {
    if (child) return;
    log = '';
    // durability off: a test cluster only has to survive a clean stop (fsync off makes initdb+tests seconds faster)
    const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off',
      '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200', '-c', 'shared_buffers=64MB'];
    const c = spawn(join(bin, 'postgres'), args, { ...spawnOpts, stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    c.once('exit', () => {
      if (child === c) child = undefined;
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (!child) throw new Error(`postgres exited at start: ${log}`);
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
      try {
        await client.connect();
        await client.query('SELECT 1');
        await client.end();
        return;
      } catch {
        await client.end().catch(() => undefined);
      }
      if (Date.now() > deadline) throw new Error(`postgres did not accept connections within 30 s: ${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const stop = async () => {
    const c = child;
    if (!c) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGINT'); // fast shutdown: roll back open transactions, cut clients, checkpoint
    await exited;
  };

  const onExit = () => {
    child?.kill('SIGQUIT');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  await start();
  return {
    url,
    port,
    dir,
    urlFor: (db) => `postgres://postgres@127.0.0.1:${port}/${db}`,
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    stop,
    start,
    running: () => child !== undefined,
    async destroy() {
      // immediate shutdown (SIGQUIT): no checkpoint, the files are deleted next anyway
      const c = child;
      if (c) {
        const exited = new Promise<void>((r) => c.once('exit', () => r()));
        c.kill('SIGQUIT');
        await exited;
      }
      process.off('exit', onExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Who the cluster runs as (for messages). */
export function postgresUser(): string {
  return runAs() ? 'nobody' : userInfo().username;
}
