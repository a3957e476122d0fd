// Opens a page in headless Debian Chromium (driven by playwright-core; no browser download)
// and prints the page's `window.result` once its title leaves "running".
// Usage: node browser.mjs PAGE_URL [CHROMIUM_PATH]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { run } from './common.mjs';

const pageUrl = process.argv[2];
const executablePath = process.argv[3] ?? '/usr/bin/chromium';

run(async () => {
  const profile = mkdtempSync(path.join(tmpdir(), 'proxy-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const console_ = [];
    page.on('console', (m) => console_.push(m.text()));
    await page.goto(pageUrl);
    await page.waitForFunction(() => document.title !== 'running', null, { timeout: 20000 });
    const result = await page.evaluate(() => window.result);
    return { ...result, browser: context.browser()?.version() ?? null, console: console_ };
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}, 40000);
