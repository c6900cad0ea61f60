// The process side of the hooks: what the small scripts written by `qbg hook install` call. They pass which hook
// they are and where the hook config lives; everything else comes from argv, stdin and the environment exactly as
// libvirt / vdsm provide them.
import { readFile } from 'node:fs/promises';
import { loadHookConfig } from './hook-config.js';
import { EXIT, libvirtStep, vdsmStep, VDSM_HOOKS, type VdsmHook } from './plan.js';
import { runHook } from './run-hook.js';

export interface HookProcess {
  argv: string[]; // arguments after the script name
  env: NodeJS.ProcessEnv;
  readStdin(): Promise<string>;
  stderr(line: string): void;
  fetch?: typeof fetch;
}

/** /etc/libvirt/hooks/qemu <domain> <operation> <sub-operation> <extra>, domain XML on stdin. */
export async function libvirtQemuHook(p: HookProcess, configPath?: string): Promise<number> {
  const [domainName, operation, subOperation = '-'] = p.argv;
  if (!domainName || !operation) {
    p.stderr('qbg hook: usage: qemu <domain> <operation> <sub-operation> [extra] (domain XML on stdin), as libvirt calls it');
    return EXIT.usage;
  }
  const label = `libvirt qemu ${operation} ${subOperation}`;
  // libvirt writes the XML for every operation: always drain stdin so it never meets a closed pipe
  const xml = p.readStdin();
  const step = libvirtStep(operation, subOperation);
  if (step.action === 'none') {
    await xml;
    return EXIT.ok;
  }
  let config;
  try {
    config = loadHookConfig(configPath, p.env);
  } catch (e) {
    p.stderr(`qbg hook (${label}): ${(e as Error).message}`);
    return step.mayFail ? EXIT.libvirtFailed : EXIT.ok;
  }
  return runHook({ label, step, domainXml: () => xml, config, failCode: EXIT.libvirtFailed, stderr: p.stderr, fetch: p.fetch });
}

/** /usr/libexec/vdsm/hooks/<hook>/50_qbg: the domain XML is in the file named by $_hook_domxml. */
export async function vdsmHook(hook: string, p: HookProcess, configPath?: string): Promise<number> {
  if (!(VDSM_HOOKS as readonly string[]).includes(hook)) {
    p.stderr(`qbg hook: unknown vdsm hook ${hook} (known: ${VDSM_HOOKS.join(', ')})`);
    return EXIT.usage;
  }
  const step = vdsmStep(hook as VdsmHook);
  const label = `vdsm ${hook}`;
  if (step.action === 'none') return EXIT.ok;
  const file = p.env._hook_domxml;
  const failCode = step.mayFail ? EXIT.vdsmFailed : 1;
  if (!file) {
    p.stderr(`qbg hook (${label}): $_hook_domxml is not set; vdsm names the domain XML file in it`);
    return failCode;
  }
  let config;
  try {
    config = loadHookConfig(configPath, p.env);
  } catch (e) {
    p.stderr(`qbg hook (${label}): ${(e as Error).message}`);
    return step.mayFail ? failCode : EXIT.ok;
  }
  return runHook({ label, step, domainXml: () => readFile(file, 'utf8'), config, failCode, stderr: p.stderr, fetch: p.fetch });
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Called by an installed script: run the hook for this process and exit with its code. */
export async function runInstalledHook(opts: { kind: 'libvirt-qemu' } | { kind: 'vdsm'; hook: string }, configPath?: string): Promise<never> {
  const p: HookProcess = {
    argv: process.argv.slice(2),
    env: process.env,
    readStdin: () => readAll(process.stdin),
    stderr: (line) => process.stderr.write(line.endsWith('\n') ? line : line + '\n'),
  };
  let code: number;
  try {
    code = opts.kind === 'libvirt-qemu' ? await libvirtQemuHook(p, configPath) : await vdsmHook(opts.hook, p, configPath);
  } catch (e) {
    p.stderr(`qbg hook: internal error: ${(e as Error).stack ?? String(e)}`);
    code = opts.kind === 'vdsm' ? EXIT.vdsmFailed : EXIT.libvirtFailed;
  }
  process.exit(code);
}
