// Opens a WebRTC page in headless Debian Chromium (playwright-core; no browser download) with a
// fake microphone playing a WAV file, waits until the page's title leaves "running", and prints
// the page's `window.result`. Run inside a network namespace with loopback only
// (tests/support/netns_call.py), so every ICE candidate and packet is on 127.0.0.1.
// Usage: node webrtc_browser.mjs PAGE_URL WAV_FILE [CHROMIUM_PATH]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { run } from './common.mjs';

const [pageUrl, wavFile] = process.argv.slice(2, 4);
const executablePath = process.argv[4] ?? '/usr/bin/chromium';

run(async () => {
  const profile = mkdtempSync(path.join(tmpdir(), 'proxy-webrtc-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${wavFile}`,
      '--allow-loopback-in-peer-connection', // the namespace has no other interface
    ],
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const console_ = [];
    page.on('console', (m) => console_.push(m.text()));
    page.on('pageerror', (e) => console_.push(`pageerror: ${e.message}`));
    await page.goto(pageUrl);
    await page.waitForFunction(() => document.title !== 'running', null, { timeout: 40000 });
    const result = await page.evaluate(() => window.result);
    return { ...result, browser: context.browser()?.version() ?? null, console: console_ };
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}, 55000);
