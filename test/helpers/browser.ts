import { existsSync } from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';

/** Debian's Chromium (`apt-get install chromium`); puppeteer-core never downloads a browser. */
export const CHROMIUM = process.env.KEYHOLD_TEST_CHROMIUM ?? '/usr/bin/chromium';

/**
 * For a `before` hook of a suite that drives a real browser: under CI=true a missing Chromium
 * fails the run; elsewhere the suite is skipped with a message saying how to install it.
 */
export function requireChromium(context: Mocha.Context): void {
  if (existsSync(CHROMIUM)) return;
  if (process.env.CI === 'true') {
    throw new Error(`Chromium is required under CI=true but ${CHROMIUM} does not exist (apt-get install -y chromium)`);
  }
  console.log(`      Chromium is not installed at ${CHROMIUM}: skipping the browser tests (apt-get install -y chromium to run them)`);
  context.skip();
}

/**
 * A headless Chromium that accepts the test server's self-signed certificate. `--no-sandbox`:
 * the tests run as root, where Chromium's sandbox refuses to start.
 */
export function launchChromium(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    acceptInsecureCerts: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
