// `qbg hook install [--libvirt] [--vdsm] [--dir D] …`: write the libvirt / vdsm hook scripts and their config.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { DEFAULT_HOOK_CONFIG, loadHookConfig } from '../hooks/hook-config.js';
import { installHooks, writeHookConfig } from '../hooks/install.js';
import { flagString, parseArgs } from './args.js';
import { UsageError, printJsonOr, type CliIo } from './io.js';

export const HOOK_HELP = `qbg hook install [--libvirt] [--vdsm] [--dir D] [--vdsm-dir D] [--drop-in] [--force]
                 [--config FILE] [--url URL] [--token-file FILE] [--on-qbg-down fail|allow]
                 [--timeout-ms N] [--default-uplink IF]

Writes the hook scripts (neither flag = --libvirt):
  --libvirt      D/qemu (D default /etc/libvirt/hooks); with --drop-in D/qemu.d/50-qbg (libvirt ≥ 6.5)
  --vdsm         D/<hook>/50_qbg for before_vm_start, after_vm_destroy, before/after_vm_migrate_source,
                 before/after_vm_migrate_destination (--vdsm-dir D, default /usr/libexec/vdsm/hooks)
  --dir D        the libvirt hooks dir, or with only --vdsm the vdsm hooks root
  --force        replace a qemu hook that qbg did not write
and the hook config FILE (default ${DEFAULT_HOOK_CONFIG}, mode 0600) with the values given:
  --url URL                  the local qbg (default http://127.0.0.1:8021)
  --token-file FILE          file holding a token of role hook
  --on-qbg-down fail|allow   when qbg is down: refuse the VM start (default) or let it start without VSI
  --timeout-ms N             time limit of one association request (default 20000)
  --default-uplink IF        uplink for type='network' NICs, whose XML names no device
See docs/hooks.md.`;

export async function hookCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'install') throw new UsageError(`qbg hook: expected "install", got ${sub ?? 'nothing'}\n\n${HOOK_HELP}`);
  const p = parseArgs(rest, {
    libvirt: { value: false },
    vdsm: { value: false },
    dir: { value: true },
    'vdsm-dir': { value: true },
    'drop-in': { value: false },
    force: { value: false },
    config: { value: true },
    url: { value: true },
    'token-file': { value: true },
    'on-qbg-down': { value: true },
    'timeout-ms': { value: true },
    'default-uplink': { value: true },
  });
  if (p.positionals.length) throw new UsageError(`qbg hook install: unexpected argument ${p.positionals[0]}`);
  const vdsm = p.flags.vdsm === true;
  const libvirt = p.flags.libvirt === true || !vdsm;
  const dir = flagString(p, 'dir');
  const onDown = flagString(p, 'on-qbg-down');
  if (onDown !== undefined && onDown !== 'fail' && onDown !== 'allow') throw new UsageError(`--on-qbg-down must be fail or allow, got ${onDown}`);
  const timeout = flagString(p, 'timeout-ms');
  const configPath = flagString(p, 'config') ?? DEFAULT_HOOK_CONFIG;

  const values: Record<string, unknown> = {
    // `qbg --url U` is a global option (main takes it before we see it): it also names the qbg the hooks call
    url: flagString(p, 'url') ?? io.baseUrl,
    tokenFile: flagString(p, 'token-file'),
    onQbgDown: onDown,
    requestTimeoutMs: timeout === undefined ? undefined : Number(timeout),
    defaultUplink: flagString(p, 'default-uplink'),
  };
  // Refuse to leave a config the hooks would reject: check what was written, and put the old file back if it fails.
  const previous = existsSync(configPath) ? readFileSync(configPath) : undefined;
  const config = writeHookConfig(configPath, values);
  try {
    loadHookConfig(configPath, {});
  } catch (e) {
    if (previous === undefined) rmSync(configPath, { force: true });
    else writeFileSync(configPath, previous, { mode: 0o600 });
    throw e;
  }

  const scripts = installHooks({
    libvirt,
    vdsm,
    libvirtDir: libvirt ? (dir ?? '/etc/libvirt/hooks') : '/etc/libvirt/hooks',
    dropIn: p.flags['drop-in'] === true,
    vdsmDir: flagString(p, 'vdsm-dir') ?? (!libvirt && dir ? dir : '/usr/libexec/vdsm/hooks'),
    configPath,
    force: p.flags.force === true,
  });
  printJsonOr(io, { config: configPath, settings: { ...config, ...(config.token ? { token: '***' } : {}) }, scripts }, () =>
    [
      ...scripts.map((s) => `${s.replaced ? 'replaced' : 'wrote'} ${s.path}`),
      `hook config ${configPath}`,
      libvirt && !p.flags['drop-in'] ? 'libvirt looks for its qemu hook when libvirtd starts: restart libvirtd once' : '',
    ]
      .filter(Boolean)
      .join('\n'),
  );
  return 0;
}
