// xmlbuilder2 (with its DOM and its readers, ~10 MB resident) is loaded at the first XML generated, not when qbg
// starts: most of a service's life is status reads and associations, which never build XML. It is CommonJS, so a
// synchronous require keeps every caller synchronous.
import { createRequire } from 'node:module';
import type { create as Create } from 'xmlbuilder2';

let loaded: typeof Create | undefined;

export const create: typeof Create = ((...args: unknown[]) => {
  loaded ??= (createRequire(import.meta.url)('xmlbuilder2') as { create: typeof Create }).create;
  return (loaded as (...a: unknown[]) => unknown)(...args);
}) as typeof Create;
