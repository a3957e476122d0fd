// Drives the proxy's own demo page (GET /) in headless Debian Chromium with a fake microphone:
// clicks Start, waits for the first finished response, prints the page's `window.demo`.
// Usage: node demo_page.mjs PAGE_URL WAV_FILE [CHROMIUM_PATH]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { run } from './common.mjs';

const [pageUrl, wavFile] = process.argv.slice(2, 4);
const executablePath = process.argv[4] ?? '/usr/bin/chromium';

run(async () => {
  const profile = mkdtempSync(path.join(tmpdir(), 'proxy-demo-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${wavFile}`,
      '--allow-loopback-in-peer-connection', // WebRTC mode, in a loopback-only namespace
    ],
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const console_ = [];
    page.on('console', (m) => console_.push(m.text()));
    await page.goto(pageUrl);
    await page.click('#start');
    await page.waitForFunction(() => (window.demo.responses ?? 0) >= 1, null, { timeout: 30000 });
    const demo = await page.evaluate(() => window.demo);
    return { ...demo, console: console_ };
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}, 45000);
