import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type NextFunction, type Request, type Response } from 'express';

/** Where the console is served. */
export const CONSOLE_PATH = '/console';

/**
 * The Content-Security-Policy of every answer under /console: the page loads its own script
 * and stylesheet and talks to its own origin only; nothing inline, no frames, no forms posted.
 */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * The built console's directory: `dist/console` of the package, whether the server runs
 * from dist/ (`npm start`) or from src/ through tsx (the tests).
 */
export function builtConsoleDirectory(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const root = path.resolve(here, '..', '..');
  // dist/src/api → dist/console; src/api → dist/console.
  return path.basename(root) === 'dist' ? path.join(root, 'console') : path.join(root, 'dist', 'console');
}

/**
 * The web console's static files (index.html, app.js, app.css), unauthenticated: they hold no
 * data and no powers; the page signs each API request in the browser with the credential the
 * user signs in with. `/console` redirects to `/console/`; a server run from source without
 * `npm run build` answers 503 with a plain-text reason.
 *
 * @example
 *   app.use(CONSOLE_PATH, consoleFiles());
 */
export function consoleFiles(directory = builtConsoleDirectory()) {
  const files = express.static(directory, { index: 'index.html', redirect: false, dotfiles: 'deny', etag: true, lastModified: false });
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      next();
      return;
    }
    res.setHeader('Content-Security-Policy', CONSOLE_CSP);
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('Referrer-Policy', 'no-referrer');
    // The mount point without its slash: the page's relative URLs (app.js) need the slash.
    if (req.path === '/' && !req.originalUrl.split('?')[0]!.endsWith('/')) {
      res.redirect(301, `${CONSOLE_PATH}/`);
      return;
    }
    if (!existsSync(path.join(directory, 'index.html'))) {
      res.locals.errorType = 'ServiceUnavailableException';
      res.status(503).type('text/plain').send('The web console is not built: run "npm run build".\n');
      return;
    }
    files(req, res, next);
  };
}
