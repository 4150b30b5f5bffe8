import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import express from 'express';
import request from 'supertest';
import { builtConsoleDirectory, CONSOLE_CSP, CONSOLE_PATH, consoleFiles } from '../../src/api/console-files.js';
import { makeTempDir } from '../helpers/temp-dir.js';

/** The console's files under /console of a bare express app, then 404 for the rest. */
function appServing(directory: string) {
  const app = express();
  app.use(CONSOLE_PATH, consoleFiles(directory));
  app.use((_req, res) => {
    res.status(404).json({ __type: 'NotFoundException' });
  });
  return app;
}

describe('console files', () => {
  let dir: { path: string; remove(): void };
  beforeEach(() => {
    dir = makeTempDir('keyhold-console-files-');
  });
  afterEach(() => dir.remove());

  it('are looked for in dist/console of the package', () => {
    expect(builtConsoleDirectory().split(path.sep).slice(-2)).to.deep.equal(['dist', 'console']);
  });

  it('answer 503 in plain text, not a crash, when the console is not built', async () => {
    const answer = await request(appServing(path.join(dir.path, 'missing'))).get('/console/');
    expect(answer.status).to.equal(503);
    expect(answer.headers['content-type']).to.match(/^text\/plain/);
    expect(answer.text).to.include('npm run build');
    expect(answer.headers['content-security-policy']).to.equal(CONSOLE_CSP);
  });

  it('serve index.html at /console/ with the strict CSP and no caching without a check', async () => {
    writeFileSync(path.join(dir.path, 'index.html'), '<!doctype html><title>t</title>');
    const answer = await request(appServing(dir.path)).get('/console/');
    expect(answer.status).to.equal(200);
    expect(answer.text).to.equal('<!doctype html><title>t</title>');
    expect(answer.headers['content-security-policy']).to.equal(CONSOLE_CSP);
    expect(answer.headers['cache-control']).to.equal('no-cache');
  });

  it('redirect /console to /console/, keeping the page relative URLs right', async () => {
    writeFileSync(path.join(dir.path, 'index.html'), 'x');
    for (const url of ['/console', '/console?x=1', '/Console']) {
      const answer = await request(appServing(dir.path)).get(url);
      expect(answer.status, url).to.equal(301);
      expect(answer.headers.location, url).to.equal('/console/');
    }
  });

  it('leave other methods and unknown files to the routes after them', async () => {
    writeFileSync(path.join(dir.path, 'index.html'), 'x');
    writeFileSync(path.join(dir.path, '.secret'), 'x');
    const app = appServing(dir.path);
    expect((await request(app).post('/console/').send('{}')).status).to.equal(404);
    expect((await request(app).get('/console/nothing.js')).status).to.equal(404);
    expect((await request(app).get('/console/.secret')).status).to.not.equal(200);
    expect((await request(app).get('/console/../package.json')).status).to.not.equal(200);
  });
});
