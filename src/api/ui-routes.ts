// The admin web page at /ui: three static files (HTML, one ES module, CSS) served as-is, no build step.
// The assets are public — they hold no data; the page fetches everything through the same API and role checks
// as any other client, with the token the user signs in with.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';

export interface UiRoutesOptions {
  /** Directory holding index.html, app.js, style.css. Default: src/ui of this checkout (also from dist/). */
  assetsDir?: string;
}

const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

/** tsc does not copy non-TS files: from dist/src/api look back into the checkout's src/ui. */
export function defaultUiDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '..', 'ui'), join(here, '..', '..', '..', 'src', 'ui')];
  return candidates.find((d) => existsSync(join(d, 'index.html'))) ?? candidates[0];
}

// Everything the page needs comes from its own origin; no inline script or style, so a stored VSI type
// description can never run as code even if a render bug let markup through.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export function uiRoutes(opts: UiRoutesOptions = {}): FastifyPluginAsync {
  const dir = opts.assetsDir ?? defaultUiDir();
  // Read once at start: a missing asset is a deployment error that should fail the start, not the first visit.
  const files = new Map(Object.entries(ASSETS).map(([name, type]) => [name, { type, body: readFileSync(join(dir, name)) }]));

  return async (app) => {
    const config = { role: 'public' as const };
    const schema = { tags: ['ui'], hide: true };
    const send = (name: string) => async (_req: unknown, reply: import('fastify').FastifyReply) => {
      const f = files.get(name)!;
      return reply
        .header('content-type', f.type)
        .header('cache-control', 'no-cache')
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', CSP)
        .header('referrer-policy', 'no-referrer')
        .send(f.body);
    };
    // Relative asset URLs in index.html need the trailing slash.
    app.get('/ui', { config, schema }, async (_req, reply) => reply.redirect('/ui/'));
    app.get('/ui/', { config, schema }, send('index.html'));
    for (const name of Object.keys(ASSETS)) app.get(`/ui/${name}`, { config, schema }, send(name));
  };
}
