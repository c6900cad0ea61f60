// Which libvirtd would start a VM here, and would its port-profile requests reach lldpad? Read from /proc: the
// libvirtd (or modular virtqemud) running in lldpad's network namespace (libvirt sends its netlink requests to
// the lldpad of its own namespace), its version (`libvirtd --version`, run through /proc/PID/exe so the very
// binary that runs answers), and whether the netlink port shim is loaded into it (lldpad/libvirt-nlport-shim.c,
// needed on libvirt 9.0: docs/libvirt-lab.md). The one place qbg reads another daemon's process state.
import { execFile } from 'node:child_process';
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { LibvirtdFacts } from './explain.js';

const execFileP = promisify(execFile);

const DAEMONS = ['libvirtd', 'virtqemud'];

/** The network namespace inode of a named namespace (/run/netns/NAME), or of this process. */
async function netnsInode(netns?: string): Promise<string | undefined> {
  try {
    if (netns === undefined) return /\[(\d+)\]/.exec(await readlink('/proc/self/ns/net'))?.[1];
    return String((await stat(`/run/netns/${netns}`)).ino);
  } catch {
    return undefined;
  }
}

/**
 * The libvirtd in the given network namespace (default: qbg's own); null when none runs there. Never throws: what
 * cannot be read is left out (a version that cannot be read is absent, and no finding is then made of it).
 */
export async function probeLibvirtd(netns?: string): Promise<LibvirtdFacts | null> {
  const want = await netnsInode(netns);
  if (want === undefined) return null;
  let pids: string[];
  try {
    pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  for (const pid of pids) {
    try {
      const comm = (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
      if (!DAEMONS.includes(comm)) continue;
      if (/\[(\d+)\]/.exec(await readlink(`/proc/${pid}/ns/net`))?.[1] !== want) continue;
      const maps = await readFile(`/proc/${pid}/maps`, 'utf8').catch(() => '');
      const facts: LibvirtdFacts = { pid: Number(pid), portShim: maps.includes('nlport-shim') };
      try {
        const { stdout } = await execFileP(`/proc/${pid}/exe`, ['--version'], { timeout: 5000 });
        const v = /(\d+\.\d+\.\d+)/.exec(stdout)?.[1];
        if (v) facts.version = v;
      } catch {
        /* version unknown */
      }
      return facts;
    } catch {
      continue; // the process ended while we looked, or is not ours to read
    }
  }
  return null;
}
