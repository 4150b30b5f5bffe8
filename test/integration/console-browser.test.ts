import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { Browser, Page } from 'puppeteer-core';
import { CONSOLE_CSP } from '../../src/api/console-files.js';
import { KeyholdClient } from '../../src/client/index.js';
import { alterStoredAuditRecord } from '../helpers/audit-tamper.js';
import { LevelDbStore } from '../../src/store/leveldb-store.js';
import { launchChromium, requireChromium } from '../helpers/browser.js';
import { startCliServer, type CliServer } from '../helpers/cli-server.js';
import { startFakeGcpKms } from '../fakes/gcp-kms.js';
import { startServerProcess } from '../helpers/server-process.js';
import { rememberSecret, usedSecrets } from '../helpers/secrets.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const XSS_IMG = '<img src=x onerror=alert(1)>';
const XSS_SCRIPT = '</script><script>alert(2)</script>';

/** A GET on the test server, its certificate unchecked (self-signed). */
function get(url: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { rejectUnauthorized: false }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
      })
      .once('error', reject);
  });
}

/**
 * What a page did that it must not: a request off the server's origin, a dialog (an injected
 * alert), a CSP violation or a script error. Checked after each scenario.
 */
interface Watch {
  offOrigin: string[];
  dialogs: string[];
  problems: string[];
}

describe('web console in Chromium', function () {
  // A browser on two shared cores: `npm test`'s 20 s default is short for a whole scenario.
  this.timeout(120_000);
  let server: CliServer;
  let browser: Browser;
  let origin: string;
  let shots: { path: string; remove(): void };
  const watches: Watch[] = [];
  /** The tabs a scenario opened: closed after it, pictured first if it failed. */
  const pages: Page[] = [];

  before(async function () {
    requireChromium(this);
    // The console's bundle, as `npm run build` makes it: the server serves dist/console.
    execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build-console.mjs')], { cwd: ROOT, stdio: 'pipe' });
    server = await startCliServer('console browser passphrase');
    origin = new URL(server.server.url).origin;
    browser = await launchChromium();
    shots = makeTempDir('keyhold-console-screenshots-');
    console.log(`      screenshots: ${shots.path}`);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    // The screenshots stay for a reviewer (their directory is printed above).
  });

  afterEach(async function () {
    // A failed scenario leaves a picture of each tab it left open.
    const open = pages.splice(0).filter((page) => !page.isClosed());
    if (this.currentTest?.state === 'failed') {
      for (const [index, page] of open.entries()) {
        let shown = await page.$eval('#app', (app) => app.textContent ?? '').catch(() => '');
        // A new credential's secret may be on the page: the log never gets it.
        for (const secret of usedSecrets) shown = shown.split(secret).join('<secret>');
        console.log(`      the failed scenario's tab ${index} at ${page.url()} showed: ${shown.slice(0, 2000)}`);
        await page.bringToFront();
        await screenshot(page, `failed-${this.currentTest.title.slice(0, 40).replace(/\W+/g, '-')}-${index}`).catch(() => undefined);
      }
    }
    await Promise.all(open.map((page) => page.close()));
    for (const watch of watches.splice(0)) {
      expect(watch.offOrigin, 'requests off the origin').to.deep.equal([]);
      expect(watch.dialogs, 'dialogs').to.deep.equal([]);
      expect(watch.problems, 'CSP violations and script errors').to.deep.equal([]);
    }
  });

  /** A new tab that records every request, dialog and console error. */
  async function openPage(width = 1280, height = 900): Promise<Page> {
    const page = await browser.newPage();
    pages.push(page);
    await page.setViewport({ width, height });
    const watch: Watch = { offOrigin: [], dialogs: [], problems: [] };
    watches.push(watch);
    page.on('request', (request) => {
      const url = request.url();
      // data: URLs leave nothing: Chromium's own form controls (the date picker's icon) use them.
      if (!url.startsWith(`${origin}/`) && !url.startsWith('data:')) watch.offOrigin.push(url);
    });
    page.on('dialog', (dialog) => {
      watch.dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    page.on('console', (message) => {
      // The API's error answers (403, 404, …) are logged by Chromium as failed loads: expected.
      if (message.type() === 'error' && !/Failed to load resource/.test(message.text())) watch.problems.push(message.text());
    });
    page.on('pageerror', (error) => watch.problems.push(String(error)));
    return page;
  }

  async function signIn(page: Page, accessKeyId: string, secretKey: string, stay = false): Promise<void> {
    await page.goto(`${origin}/console/`);
    await page.locator('input[name="access-key-id"]').fill(accessKeyId);
    await page.locator('input[name="secret-key"]').fill(secretKey);
    if (stay) await page.locator('input[name="stay-signed-in"]').click();
    await page.locator('button[type="submit"]::-p-text(Sign in)').click();
    await page.waitForSelector('.signed-in-as');
  }

  async function signInAsAdmin(page: Page): Promise<void> {
    await signIn(page, server.adminCredentials.AccessKeyId, server.adminCredentials.SecretKey);
  }

  /** Clicks a button by its text and waits for the page's notice to say `done`. */
  async function press(page: Page, button: string, done: string): Promise<void> {
    await page.locator(`button::-p-text(${button})`).click();
    await page.waitForFunction((text) => [...document.querySelectorAll('.notice')].some((notice) => notice.textContent?.includes(text)), {}, done);
  }

  async function text(page: Page, selector: string): Promise<string> {
    return page.$eval(selector, (element) => element.textContent ?? '');
  }

  /** Types `value` into statement `index` (from 0) of a policy editor, as a person would (an input event). */
  async function setStatement(page: Page, editor: string, index: number, value: string): Promise<void> {
    await page.$eval(`#${editor}-statement-${index}`, (area, text) => {
      const textarea = area as HTMLTextAreaElement;
      textarea.value = text;
      textarea.dispatchEvent(new Event('input', { bubbles: true }));
    }, value);
  }

  async function setStatements(page: Page, editor: string, statements: object[]): Promise<void> {
    for (const [index, statement] of statements.entries()) await setStatement(page, editor, index, JSON.stringify(statement));
  }

  /** Each statement's aria-invalid, aria-describedby and the type of the error shown next to it. */
  function statementMarks(page: Page, editor: string): Promise<{ invalid: string | null; describedBy: string | null; error: string | null }[]> {
    return page.$$eval(`[data-policy-editor="${editor}"] .policy-statement`, (statements) =>
      statements.map((statement) => {
        const area = statement.querySelector('textarea')!;
        return {
          invalid: area.getAttribute('aria-invalid'),
          describedBy: area.getAttribute('aria-describedby'),
          error: statement.querySelector('.statement-error .error-type')?.textContent ?? null,
        };
      }),
    );
  }

  /** Counts the page's requests to one API action from now on. */
  function watchRequests(page: Page, action: string): { count: number } {
    const seen = { count: 0 };
    page.on('request', (request) => {
      if (new URL(request.url()).pathname === `/api/v1/kms/${action}`) seen.count++;
    });
    return seen;
  }

  async function screenshot(page: Page, name: string): Promise<void> {
    const file = path.join(shots.path, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    console.log(`      screenshot: ${file}`);
  }

  it('serves the console with its strict CSP, redirects /console, and leaves the API its own headers', async () => {
    const bare = await get(`${origin}/console`);
    expect(bare.status).to.equal(301);
    expect(bare.headers.location).to.equal('/console/');

    const index = await get(`${origin}/console/`);
    expect(index.status).to.equal(200);
    expect(index.headers['content-type']).to.match(/^text\/html/);
    expect(index.headers['content-security-policy']).to.equal(CONSOLE_CSP);
    expect(index.headers['x-content-type-options']).to.equal('nosniff');
    expect(index.body).to.include('<script src="app.js" defer></script>');
    expect(index.body).not.to.match(/<script>|<style|style=/);

    const script = await get(`${origin}/console/app.js`);
    expect(script.status).to.equal(200);
    expect(script.headers['content-type']).to.match(/javascript/);
    expect(script.headers['content-security-policy']).to.equal(CONSOLE_CSP);

    expect((await get(`${origin}/console/no-such-file.js`)).status).to.equal(404);

    const health = await get(`${origin}/healthz`);
    expect(health.status).to.equal(200);
    expect(health.headers['content-security-policy']).not.to.equal(CONSOLE_CSP);
    expect(health.headers['content-security-policy']).to.include("default-src 'self'");
  });

  it('signs in with a chosen admin.credentials file, and signing out forgets the secret', async () => {
    const page = await openPage();
    await page.goto(`${origin}/console/`);
    const file = await page.$('input[name="credentials-file"]');
    await file!.uploadFile(path.join(server.cwd, 'data', 'admin.credentials'));
    await page.waitForSelector('.signed-in-as');
    expect(await text(page, '.signed-in-as')).to.equal(server.adminCredentials.AccessKeyId);
    expect(await page.evaluate(() => [document.cookie, localStorage.length, sessionStorage.length])).to.deep.equal(['', 0, 0]);
    await page.locator('button.sign-out').click();
    await page.waitForSelector('input[name="access-key-id"]');
    await page.close();
  });

  it('stays signed in for the tab only when asked, and forgets it on sign out', async () => {
    const page = await openPage();
    await signIn(page, server.adminCredentials.AccessKeyId, server.adminCredentials.SecretKey, true);
    expect(await page.evaluate(() => sessionStorage.length)).to.equal(1);
    expect(await page.evaluate(() => [document.cookie, localStorage.length])).to.deep.equal(['', 0]);
    await page.reload();
    await page.waitForSelector('.signed-in-as');
    await page.locator('button.sign-out').click();
    await page.waitForSelector('input[name="access-key-id"]');
    expect(await page.evaluate(() => sessionStorage.length)).to.equal(0);
    await page.reload();
    await page.waitForSelector('input[name="access-key-id"]');
    await page.close();
  });

  it('refuses a wrong secret in words', async () => {
    const page = await openPage();
    await page.goto(`${origin}/console/`);
    await page.locator('input[name="access-key-id"]').fill(server.adminCredentials.AccessKeyId);
    await page.locator('input[name="secret-key"]').fill(Buffer.alloc(32, 7).toString('base64'));
    await page.locator('button[type="submit"]::-p-text(Sign in)').click();
    await page.waitForSelector('.error');
    expect(await text(page, '.error-words')).to.equal('The server did not accept the signature: check the secret key.');
    expect(await text(page, '.error-type')).to.equal('InvalidSignatureException');

    // A secret that is not 32 bytes of base64 never leaves the page.
    await page.locator('input[name="secret-key"]').fill('not-base64!');
    await page.locator('button[type="submit"]::-p-text(Sign in)').click();
    await page.waitForFunction(() => document.querySelector('.error-type')?.textContent === 'BadSecret');
    expect(await text(page, '.error-words')).to.equal('The secret key must be the base64 of 32 bytes, as the server gave it.');
    // A file that is not admin.credentials is said to be so.
    const notCredentials = path.join(shots.path, 'not-credentials.json');
    writeFileSync(notCredentials, '{"hello": "world"}');
    await (await page.$('input[name="credentials-file"]'))!.uploadFile(notCredentials);
    await page.waitForFunction(() => document.querySelector('.error-type')?.textContent === 'BadCredentialsFile');
    expect(await text(page, '.error-words')).to.equal('That file is not an admin.credentials file.');
    await page.close();
  });

  it('answers a link with a malformed escape with the API\'s words, not a blank page; asks no password manager to keep the secret', async () => {
    const page = await openPage();
    await page.goto(`${origin}/console/`);
    expect(await page.$eval('input[name="secret-key"]', (input) => input.getAttribute('autocomplete'))).to.equal('off');
    expect(await page.$eval('input[name="access-key-id"]', (input) => input.getAttribute('autocomplete'))).to.equal('off');
    await signInAsAdmin(page);
    await page.goto(`${origin}/console/#/keys/%E0%A4`);
    await page.waitForSelector('.error-type');
    expect(await text(page, '.error-type')).to.match(/^(NotFoundException|ValidationException)$/);
    expect(await page.$('.signed-in-as')).to.not.equal(null);
    await page.close();
  });

  describe('a key managed in the console', () => {
    let keyId: string;
    const alias = `alias/console-${Date.now()}`;

    it('creates a key, aliases and tags it, rotates it, disables and enables it, schedules and cancels its deletion', async () => {
      const page = await openPage();
      await signInAsAdmin(page);
      await page.locator('a::-p-text(Create key)').click();
      await page.locator('input[name="description"]').fill('orders key, made in the console');
      await page.locator('form button[type="submit"]::-p-text(Create key)').click();
      await page.waitForSelector('.key-description');
      keyId = decodeURIComponent(new URL(page.url()).hash.replace('#/keys/', ''));
      expect(keyId).to.match(/^[0-9a-f-]{36}$/);
      expect(await text(page, '.key-description')).to.equal('orders key, made in the console');

      await page.locator('input[name="alias-name"]').fill(alias);
      await press(page, 'Create alias', `The alias ${alias} now names this key.`);
      expect(await text(page, '.alias-name')).to.equal(alias);

      await page.locator('input[name="tag-key"]').fill('team');
      await page.locator('input[name="tag-value"]').fill('payments');
      await press(page, 'Add tag', 'The tag team is set.');
      expect(await text(page, '.tag-value')).to.equal('payments');

      await press(page, 'Rotate now', 'The key was rotated');
      expect(await text(page, '.key-version')).to.equal('2');

      await press(page, 'Turn automatic rotation on', 'The key now rotates every 365 days.');
      expect(await text(page, '.key-rotation')).to.match(/^every 365 days/);

      await press(page, 'Disable', 'The key is disabled.');
      expect((await server.admin.describeKey(keyId)).KeyState).to.equal('Disabled');
      await press(page, 'Enable', 'The key is enabled.');
      expect((await server.admin.describeKey(keyId)).KeyState).to.equal('Enabled');

      // Deletion waits for the typed word.
      const schedule = 'button::-p-text(Schedule deletion)';
      expect(await page.$eval(schedule, (button) => (button as HTMLButtonElement).disabled)).to.equal(true);
      await page.locator('input[name="confirm-deletion"]').fill('delete');
      await page.locator('input[name="deletion-days"]').fill('7');
      await press(page, 'Schedule deletion', 'The key will be deleted in 7 days');
      expect((await server.admin.describeKey(keyId)).KeyState).to.equal('PendingDeletion');
      await screenshot(page, 'key-page-pending-deletion');
      await press(page, 'Cancel deletion', 'The deletion is cancelled');
      await press(page, 'Enable', 'The key is enabled.');
      const key = await server.admin.describeKey(keyId);
      expect(key.KeyState).to.equal('Enabled');
      expect(key.Aliases).to.deep.equal([alias]);
      await screenshot(page, 'key-page');

      // The list's first page (by key id: this key may be on another), then a search for it.
      await page.goto(`${origin}/console/#/keys`);
      await page.waitForSelector('table.keys tbody tr');
      await screenshot(page, 'key-list');
      await page.locator('input[name="search"]').fill(alias);
      await page.locator('button::-p-text(Search)').click();
      await page.waitForFunction(() => document.querySelector('.note')?.textContent?.includes('match'));
      expect(await page.$$eval('tbody tr', (rows) => rows.map((row) => row.getAttribute('data-key-id')))).to.deep.equal([keyId]);
      await page.setViewport({ width: 390, height: 844 });
      await screenshot(page, 'key-list-phone');
      await page.close();
    });

    it('shows the audit trail filtered by that key, with each change, each record linking to the key', async () => {
      // A batch with an item under this key and one under a key that does not exist: one record, found by either key.
      const missing = randomUUID();
      const plaintext = Buffer.from('batch').toString('base64');
      await server.admin.call('batchencrypt', { Items: [{ KeyId: keyId, Plaintext: plaintext }, { KeyId: missing, Plaintext: plaintext }] });
      const page = await openPage();
      await signInAsAdmin(page);
      await page.goto(`${origin}/console/#/audit?key=${keyId}`);
      await page.waitForSelector('table.audit tbody tr');
      const actions = await page.$$eval('table.audit tbody tr', (rows) => rows.map((row) => row.getAttribute('data-action')));
      for (const action of ['CreateKey', 'CreateAlias', 'TagResource', 'RotateKeyOnDemand', 'EnableKeyRotation', 'DisableKey', 'EnableKey', 'ScheduleKeyDeletion', 'CancelKeyDeletion']) {
        expect(actions, action).to.include(action);
      }
      expect(await text(page, 'tr[data-action="BatchEncrypt"] .audit-detail')).to.equal(`2 items: 1 Success, 1 NotFoundException, keys ${keyId} ${missing}`);
      const links = await page.$$eval('table.audit tbody a', (anchors) => anchors.map((anchor) => anchor.getAttribute('href')));
      expect(links.length).to.be.greaterThan(0);
      expect(new Set(links)).to.deep.equal(new Set([`#/keys/${keyId}`]));
      // Each record marked by the server, in words: an intact trail verifies.
      const marks = await page.$$eval('table.audit tbody .audit-verified', (cells) => cells.map((cell) => cell.textContent));
      expect(marks.length).to.equal(actions.length);
      expect(new Set(marks)).to.deep.equal(new Set(['verified']));
      expect(await text(page, '.verify-note')).to.include('keyhold admin audit verify');
      await screenshot(page, 'audit-trail');

      // Follow mode shows a record made after the page was read.
      expect(actions).not.to.include('GenerateDataKey');
      await page.locator('input[name="audit-follow"]').click();
      await server.admin.generateDataKey({ keyId, keySpec: 'AES_256' });
      await page.waitForSelector('tr[data-action="GenerateDataKey"]', { timeout: 20_000 });
      await page.locator('table.audit tbody a').click();
      await page.waitForSelector('.key-description');
      await page.close();
    });

    it('round-trips a text through the try-it panel', async () => {
      const page = await openPage();
      await signInAsAdmin(page);
      await page.goto(`${origin}/console/#/try?key=${encodeURIComponent(alias)}`);
      await page.locator('textarea[name="try-plaintext"]').fill('hello from the console ✓');
      await page.locator('input[name="try-context"]').fill('{"table": "orders"}');
      await page.locator('button::-p-text(Encrypt)').click();
      await page.waitForFunction(() => (document.querySelector('textarea[name="try-ciphertext"]') as HTMLTextAreaElement).value.length > 0);
      await page.locator('button::-p-text(Decrypt)').click();
      await page.waitForSelector('.try-decrypted');
      expect(await text(page, '.try-decrypted')).to.equal('hello from the console ✓');
      // Another context: the ciphertext does not open, said in words.
      await page.locator('input[name="try-context"]').fill('{"table": "users"}');
      await page.locator('button::-p-text(Decrypt)').click();
      await page.waitForSelector('.error');
      expect(await text(page, '.error-type')).to.equal('InvalidCiphertextException');
      await page.close();
    });

    it('a restricted credential made in the console signs in, and forbidden actions say AccessDenied in words', async () => {
      const page = await openPage();
      await signInAsAdmin(page);
      await page.goto(`${origin}/console/#/credentials`);
      await page.waitForSelector('#credential-policy-statement-0');
      await page.locator('input[name="credential-description"]').fill('read-only, from the console');

      // The policy, statement by statement: a mistake the server finds in statement 2 of 3 is shown next to it.
      await page.locator('button::-p-text(Add statement)').click();
      await page.locator('button::-p-text(Add statement)').click();
      await setStatements(page, 'credential-policy', [
        { Effect: 'Allow', Action: 'kms:DescribeKey', Resource: '*' },
        { Sid: 'lists', Effect: 'Allow', Action: 'kms:Encrpyt', Resource: '*' },
        { Effect: 'Allow', Action: 'kms:ListKeys', Resource: '*' },
      ]);
      await page.locator('button::-p-text(Create credential)').click();
      await page.waitForSelector('[data-policy-editor="credential-policy"] [data-statement="1"] .statement-error .error');
      expect(await statementMarks(page, 'credential-policy')).to.deep.equal([
        { invalid: 'false', describedBy: null, error: null },
        { invalid: 'true', describedBy: 'credential-policy-statement-1-error', error: 'ValidationException' },
        { invalid: 'false', describedBy: null, error: null },
      ]);
      expect(await text(page, '#credential-policy-statement-1-error .error-message')).to.match(/^Policy\.Statement\[1\] \(Sid "lists"\)\.Action.*Encrpyt/);
      expect(await page.evaluate(() => document.activeElement?.id)).to.equal('credential-policy-statement-1');
      expect(await page.$('#create-policy-error .error'), 'not under the editor').to.equal(null);
      await screenshot(page, 'policy-statement-error');

      // A statement that is not JSON is flagged next to itself before anything is sent.
      const sent = watchRequests(page, 'createcredential');
      await setStatement(page, 'credential-policy', 2, '{"Effect": "Allow", "Action": "kms:ListKeys",');
      await page.locator('button::-p-text(Create credential)').click();
      await page.waitForSelector('#credential-policy-statement-2-error .error');
      expect(await text(page, '#credential-policy-statement-2-error .error-message')).to.match(/^Policy\.Statement\[2\]: not JSON/);
      expect((await statementMarks(page, 'credential-policy')).map((mark) => mark.invalid)).to.deep.equal(['false', 'false', 'true']);
      expect(await page.evaluate(() => document.activeElement?.id)).to.equal('credential-policy-statement-2');
      expect(sent.count, 'no request for a statement that is not JSON').to.equal(0);

      // Statement 3 removed, statement 2 mended: the credential is made with both.
      await page.locator('button[aria-label="Remove statement 3"]').click();
      await setStatement(page, 'credential-policy', 1, JSON.stringify({ Sid: 'lists', Effect: 'Allow', Action: 'kms:ListKeys', Resource: '*' }));
      await page.locator('button::-p-text(Create credential)').click();
      await page.waitForSelector('.new-secret-key');
      const accessKeyId = await text(page, '.new-access-key-id');
      const secretKey = await text(page, '.new-secret-key');
      rememberSecret(secretKey);
      expect(await text(page, '.new-secret .warning')).to.include('cannot show this secret again');
      await browser.defaultBrowserContext().overridePermissions(origin, ['clipboard-read', 'clipboard-sanitized-write']);
      await page.locator('button::-p-text(Copy secret key)').click();
      await page.waitForFunction(() => document.querySelector('.new-secret [role="status"]')?.textContent === 'The secret key is on the clipboard.');
      expect(await page.evaluate(() => navigator.clipboard.readText())).to.equal(secretKey);
      await page.waitForSelector(`tr[data-access-key-id="${accessKeyId}"]`);
      await page.locator('button.sign-out').click();

      await signIn(page, accessKeyId, secretKey);
      await page.goto(`${origin}/console/#/keys/${keyId}`);
      await page.waitForSelector('.key-description');
      await page.locator('button::-p-text(Disable)').click();
      await page.waitForSelector('.error');
      expect(await text(page, '.error-words')).to.equal('Access denied: the credential you signed in with is not allowed to do this.');
      expect(await text(page, '.error-type')).to.equal('AccessDeniedException');
      expect((await server.admin.describeKey(keyId)).KeyState).to.equal('Enabled');
      await page.locator('.error summary').click();
      await screenshot(page, 'access-denied');

      await page.goto(`${origin}/console/#/credentials`);
      await page.waitForSelector('.error');
      expect(await text(page, '.error-type')).to.equal('AccessDeniedException');
      await page.close();

      // The admin disables and deletes it in the console.
      const admin = await openPage();
      await signInAsAdmin(admin);
      await admin.goto(`${origin}/console/#/credentials`);
      await admin.locator(`button[aria-label="Manage ${accessKeyId}"]`).click();
      // The policy edited, statement by statement as it was saved: a mistake shown next to its statement; then saved.
      expect((await statementMarks(admin, 'edit-policy')).length).to.equal(2);
      await setStatement(admin, 'edit-policy', 1, JSON.stringify({ Sid: 'typo', Effect: 'Alow', Action: 'kms:ListKeys', Resource: '*' }));
      await admin.locator('button::-p-text(Save policy)').click();
      await admin.waitForSelector('#edit-policy-statement-1-error .error');
      expect(await text(admin, '#edit-policy-statement-1-error .error-message')).to.match(/Statement\[1\].*typo.*Effect/);
      expect(await text(admin, '#edit-policy-statement-1-error .error-type')).to.equal('ValidationException');
      expect((await statementMarks(admin, 'edit-policy')).map((mark) => mark.invalid)).to.deep.equal(['false', 'true']);
      await admin.locator('button[aria-label="Remove statement 2"]').click();
      await setStatement(admin, 'edit-policy', 0, JSON.stringify({ Effect: 'Allow', Action: ['kms:DescribeKey', 'kms:EncryPT'], Resource: '*' }));
      await press(admin, 'Save policy', 'The policy is saved.');
      expect((await server.admin.describeCredential(accessKeyId)).Policy).to.deep.equal({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: ['kms:DescribeKey', 'kms:EncryPT'], Resource: '*' }],
      });
      await press(admin, 'Disable', 'The credential is disabled');
      expect((await server.admin.describeCredential(accessKeyId)).Enabled).to.equal(false);
      await admin.locator('input[name="confirm-credential-deletion"]').fill(accessKeyId);
      await press(admin, 'Delete credential', `The credential ${accessKeyId} is deleted.`);
      await admin.waitForFunction((id) => !document.querySelector(`tr[data-access-key-id="${id}"]`), {}, accessKeyId);
      await admin.close();
    });
  });

  it('signs in with the keyboard alone', async () => {
    const page = await openPage();
    await page.goto(`${origin}/console/`);
    await page.focus('input[name="access-key-id"]');
    await page.keyboard.type(server.adminCredentials.AccessKeyId);
    await page.keyboard.press('Tab');
    await page.keyboard.type(server.adminCredentials.SecretKey);
    await page.keyboard.press('Enter');
    await page.waitForSelector('.signed-in-as');
    // The navigation is links the keyboard reaches: Tab from the top lands on them.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).to.equal('Keys');
  });

  it('creates HMAC and asymmetric keys', async () => {
    const page = await openPage();
    await signInAsAdmin(page);
    for (const [kind, spec, usage] of [['1', 'HMAC_256', 'GENERATE_VERIFY_MAC'], ['7', 'ECC_NIST_P256', 'SIGN_VERIFY']] as const) {
      await page.goto(`${origin}/console/#/create-key`);
      await page.locator('select[name="kind"]').fill(kind);
      await page.locator('form button[type="submit"]::-p-text(Create key)').click();
      await page.waitForFunction(() => location.hash.startsWith('#/keys/'));
      await page.waitForSelector('.key-description');
      const key = await server.admin.describeKey(decodeURIComponent(new URL(page.url()).hash.replace('#/keys/', '')));
      expect([key.KeySpec, key.KeyUsage]).to.deep.equal([spec, usage]);
    }
  });

  it('registers a key that lives in Google Cloud KMS, and says in words that this server has no AWS credentials', async () => {
    const gcp = await startFakeGcpKms();
    const temp = makeTempDir('keyhold-console-remote-');
    const shared = origin;
    const passphrase = 'console remote keys passphrase';
    rememberSecret(passphrase);
    const nowhere = path.join(temp.path, 'no-such-file');
    // One process: the first use of a cloud SDK loads it, which can stall a worker past the heartbeats on a busy machine.
    const remote = await startServerProcess(
      {
        KEYHOLD_DATA_DIR: path.join(temp.path, 'data'), KEYHOLD_PASSPHRASE: passphrase, KEYHOLD_WORKERS: '1', KEYHOLD_GCP_KMS_ENDPOINT: gcp.endpoint,
        HOME: temp.path, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_SESSION_TOKEN: '', AWS_PROFILE: '', AWS_SHARED_CREDENTIALS_FILE: nowhere, AWS_CONFIG_FILE: nowhere, AWS_EC2_METADATA_DISABLED: 'true',
      },
      temp.path,
    );
    try {
      const admin = JSON.parse(readFileSync(path.join(temp.path, 'data', 'admin.credentials'), 'utf8')) as { AccessKeyId: string; SecretKey: string };
      rememberSecret(admin.SecretKey);
      origin = new URL(remote.url).origin;
      const version = gcp.addKeyVersion('EC_SIGN_P256_SHA256');
      const page = await openPage();
      await signIn(page, admin.AccessKeyId, admin.SecretKey);
      await page.goto(`${origin}/console/#/create-key`);
      await page.locator('select[name="origin"]').fill('GCP_KMS');
      await page.locator('input[name="provider-key-id"]').fill(version.name);
      await page.locator('form button[type="submit"]::-p-text(Create key)').click();
      await page.waitForFunction(() => location.hash.startsWith('#/keys/'));
      await page.waitForSelector('.key-description');
      const shown = await page.evaluate(() => document.body.innerText);
      expect(shown).to.include('GCP_KMS');
      expect(shown).to.include('ECC_NIST_P256');

      await page.goto(`${origin}/console/#/create-key`);
      await page.locator('select[name="origin"]').fill('AWS_KMS');
      await page.locator('input[name="provider-key-id"]').fill('arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab');
      await page.locator('form button[type="submit"]::-p-text(Create key)').click();
      await page.waitForSelector('.error-type');
      expect(await text(page, '.error-type')).to.equal('UnsupportedOperationException');
      expect(await page.evaluate(() => document.body.innerText)).to.include('no AWS credentials');
      await screenshot(page, 'remote-key-no-aws-credentials');
      await page.close();
    } finally {
      origin = shared;
      await remote.stop();
      await gcp.close();
      temp.remove();
    }
  });

  it('marks a record altered in the store "does not verify" in the audit trail, in words', async () => {
    const temp = makeTempDir('keyhold-console-altered-');
    const shared = origin;
    const passphrase = 'console altered trail passphrase';
    rememberSecret(passphrase);
    const env = { KEYHOLD_DATA_DIR: path.join(temp.path, 'data'), KEYHOLD_PASSPHRASE: passphrase };
    // LevelDB in any run: the record is altered in-process while the server is stopped.
    let altered = await startServerProcess(env, temp.path, { store: 'leveldb' });
    try {
      const admin = JSON.parse(readFileSync(path.join(temp.path, 'data', 'admin.credentials'), 'utf8')) as { AccessKeyId: string; SecretKey: string };
      rememberSecret(admin.SecretKey);
      const client = KeyholdClient.fromCredentialsFile(path.join(temp.path, 'data', 'admin.credentials'));
      const { KeyId } = await client.createKey({ description: 'audited' });
      for (let i = 0; i < 3; i++) await client.describeKey(KeyId);
      client.close();
      expect(await altered.stop()).to.equal(0);
      const store = await LevelDbStore.open(path.join(temp.path, 'data'));
      try {
        const victim = (await store.listAudit()).find((event) => event.Action === 'DescribeKey')!;
        await alterStoredAuditRecord(store, victim.Seq, (record) => ({ ...record, Principal: 'someone-else' }));
      } finally {
        await store.close();
      }
      altered = await startServerProcess(env, temp.path, { store: 'leveldb' });
      origin = new URL(altered.url).origin;
      const page = await openPage();
      await signIn(page, admin.AccessKeyId, admin.SecretKey);
      await page.goto(`${origin}/console/#/audit?key=${KeyId}`);
      await page.waitForSelector('table.audit tbody tr');
      const rows = await page.$$eval('table.audit tbody tr', (trs) =>
        trs.map((tr) => [tr.querySelector('td[data-label="Principal"]')?.textContent, tr.querySelector('.audit-verified')?.textContent]),
      );
      expect(rows.filter(([, mark]) => mark !== 'verified')).to.deep.equal([['someone-else', 'does not verify']]);
      expect(rows.length).to.be.greaterThan(3);
      await screenshot(page, 'audit-trail-altered');
      await page.close();
    } finally {
      origin = shared;
      await altered.stop();
      temp.remove();
    }
  });

  it('pages through the keys 25 at a time', async () => {
    await Promise.all(Array.from({ length: 26 }, (_, index) => server.admin.createKey({ description: `paging ${index}` })));
    const all = (await server.admin.listKeys({ limit: 1000 })).keys.map((key) => key.KeyId);
    const page = await openPage();
    await signInAsAdmin(page);
    const shown = () => page.$$eval('table.keys tbody tr', (rows) => rows.map((row) => row.getAttribute('data-key-id')));
    await page.waitForSelector('table.keys tbody tr');
    expect(await shown()).to.deep.equal(all.slice(0, 25));
    await page.locator('button::-p-text(Next page)').click();
    await page.waitForFunction(() => document.querySelector('.pager span')?.textContent === 'Page 2');
    expect(await shown()).to.deep.equal(all.slice(25, 50));
    await page.locator('button::-p-text(Previous page)').click();
    await page.waitForFunction(() => document.querySelector('.pager span')?.textContent === 'Page 1');
    expect(await shown()).to.deep.equal(all.slice(0, 25));
  });

  it('renders markup from the server as text: key description, tag value, audit context and error messages', async () => {
    const key = await server.admin.createKey({ description: `${XSS_IMG} ${XSS_SCRIPT}` });
    await server.admin.call('tagresource', { KeyId: key.KeyId, Tags: [{ TagKey: XSS_SCRIPT, TagValue: XSS_IMG }] });
    await server.admin.encrypt({ keyId: key.KeyId, plaintext: Buffer.from('x'), encryptionContext: { note: XSS_IMG, other: XSS_SCRIPT } });

    const page = await openPage();
    await signInAsAdmin(page);
    await page.goto(`${origin}/console/#/keys/${key.KeyId}`);
    await page.waitForSelector('.tag-value');
    expect(await text(page, '.key-description')).to.equal(`${XSS_IMG} ${XSS_SCRIPT}`);
    expect(await text(page, '.tag-key')).to.equal(XSS_SCRIPT);
    expect(await text(page, '.tag-value')).to.equal(XSS_IMG);

    // An alias the server refuses: its error in words, and nothing the name held runs.
    await page.locator('input[name="alias-name"]').fill(`alias/${XSS_IMG}`);
    await page.locator('button::-p-text(Create alias)').click();
    await page.waitForSelector('.error');
    expect(await text(page, '.error-type')).to.equal('ValidationException');

    await page.goto(`${origin}/console/#/audit?key=${key.KeyId}`);
    await page.waitForSelector('tr[data-action="Encrypt"]');
    expect(await text(page, 'tr[data-action="Encrypt"] .audit-detail')).to.equal(`context note=${XSS_IMG}, context other=${XSS_SCRIPT}`);

    // A key id that is markup: the server's NotFound message repeats it, shown as text.
    await page.goto(`${origin}/console/#/keys/${encodeURIComponent(`alias/x${XSS_IMG}`)}`);
    await page.waitForSelector('.error');
    expect(await text(page, '.error-message')).to.include(XSS_IMG);

    const injected = () => page.$$eval('#app img, #app script, #app [onerror]', (found) => found.length);
    await page.goto(`${origin}/console/#/keys/${key.KeyId}`);
    await page.waitForSelector('.tag-value');
    expect(await injected(), 'key page').to.equal(0);
    // The list, searched by the description's own markup.
    await page.goto(`${origin}/console/#/keys`);
    await page.locator('input[name="search"]').fill(XSS_IMG);
    await page.locator('button::-p-text(Search)').click();
    await page.waitForFunction(() => document.querySelector('.note')?.textContent?.includes('match'));
    expect(await page.$$eval('table.keys tbody tr', (rows) => rows.map((row) => row.getAttribute('data-key-id')))).to.deep.equal([key.KeyId]);
    expect(await injected(), 'key list').to.equal(0);
    await page.close();
  });
});
