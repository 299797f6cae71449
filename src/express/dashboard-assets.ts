/**
 * The built dashboard (dist/dashboard/: index.html and hashed assets/), served with a strict
 * Content-Security-Policy. The folder is found from this module's own URL, so the same code works
 * from src/ (tests, the folder built by test/global-setup.ts) and from the bundled dist/.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import express, { type RequestHandler, type Response } from 'express';
import { TrellisError } from '../kernel/errors.js';

/**
 * Nothing but the page's own origin: no inline script or style element, no eval, no frames, no
 * plugins. React sets styles through the CSSOM (`element.style`), which `style-src 'self'` allows.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers of every dashboard answer. */
export function setSecurityHeaders(res: Response): void {
  res.set({
    'Content-Security-Policy': DASHBOARD_CSP,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
    'Cross-Origin-Opener-Policy': 'same-origin',
  });
}

/**
 * The folder of the built dashboard: `dist/dashboard/` seen from dist/express/ or dist/chunks/ (the
 * package), or from src/express/ (the repository). The first one holding an index.html wins.
 */
export function findDashboardAssets(explicit: string | undefined): string {
  const candidates = explicit !== undefined ? [explicit] : ['../dashboard/', '../../dist/dashboard/'].map((relative) => fileURLToPath(new URL(relative, import.meta.url)));
  const found = candidates.find((dir) => existsSync(`${dir}/index.html`));
  if (found === undefined) {
    throw new TrellisError('invalid_options', `The built dashboard was not found (looked in ${candidates.join(', ')}); run \`npm run build\`, or pass createDashboard option "assetsDir"`);
  }
  return found;
}

/** Escapes text for a double-quoted HTML attribute. */
function attribute(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * index.html with the paths the page needs, in `<meta>` tags (configuration by inline script
 * would need `'unsafe-inline'`). Read once; the paths depend on where the dashboard is mounted,
 * which a request tells.
 */
export function indexPage(dir: string): (paths: { readonly api: string; readonly dashboard: string }) => string {
  const html = readFileSync(`${dir}/index.html`, 'utf8');
  if (!html.includes('name="trellis-api" content=""') || !html.includes('name="trellis-dashboard" content=""')) {
    throw new TrellisError('invalid_options', `${dir}/index.html is not a Trellis dashboard build (its trellis-api and trellis-dashboard meta tags are missing)`);
  }
  return (paths) =>
    html
      .replace('name="trellis-api" content=""', `name="trellis-api" content="${attribute(paths.api)}"`)
      .replace('name="trellis-dashboard" content=""', `name="trellis-dashboard" content="${attribute(paths.dashboard)}"`);
}

/**
 * The hashed files under assets/: their names change with their content, so they are cached for a
 * year (privately: they are served behind `authorize`).
 */
export function serveAssets(dir: string): RequestHandler {
  return express.static(`${dir}/assets`, {
    index: false,
    dotfiles: 'deny',
    setHeaders: (res) => {
      setSecurityHeaders(res);
      res.set('Cache-Control', 'private, max-age=31536000, immutable');
    },
  });
}
