// Validate XML against libvirt's own RelaxNG schemas with `virt-xml-validate FILE domain|network` (Debian
// libvirt-clients + libxml2-utils). Missing tools are a failure, never a skip: a test that validates nothing
// would pass for the wrong reason.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type LibvirtSchema = 'domain' | 'network';

export interface ValidationResult {
  ok: boolean;
  /** virt-xml-validate's own words (stdout + stderr) */
  output: string;
}

/** A bare <interface> validates only inside a domain: the smallest domain libvirt's schema accepts. */
export function wrapInterfaceInDomain(interfaceXml: string): string {
  return `<domain type="kvm">
  <name>qbg-schema-check</name>
  <memory>131072</memory>
  <os><type>hvm</type></os>
  <devices>
${interfaceXml.trim()}
  </devices>
</domain>
`;
}

function run(file: string, schema: LibvirtSchema): Promise<ValidationResult> {
  return new Promise((resolve, reject) => {
    execFile('virt-xml-validate', [file, schema], { timeout: 30_000 }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`.trim();
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error('virt-xml-validate not found: install libvirt-clients and libxml2-utils (apt-get install libvirt-clients libxml2-utils)'));
        return;
      }
      resolve({ ok: !err, output });
    });
  });
}

/** Validate one document. */
export async function virtXmlValidate(xml: string, schema: LibvirtSchema): Promise<ValidationResult> {
  return (await virtXmlValidateMany([{ xml, schema }]))[0];
}

/** Validate many documents, a few at a time (each run is one short xmllint process). */
export async function virtXmlValidateMany(docs: Array<{ xml: string; schema: LibvirtSchema }>, parallel = 4): Promise<ValidationResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'qbg-xml-'));
  try {
    const results: ValidationResult[] = new Array(docs.length);
    let next = 0;
    const worker = async () => {
      while (next < docs.length) {
        const i = next++;
        const file = join(dir, `doc-${i}.xml`);
        await writeFile(file, docs[i].xml);
        results[i] = await run(file, docs[i].schema);
      }
    };
    await Promise.all(Array.from({ length: Math.min(parallel, docs.length) }, worker));
    return results;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
