// A Flask app behind handoff-gate in a real browser: headless Debian
// Chromium opens the app, is sent through the gate to the login service
// and the mock provider (which approves at once), and lands on the Flask
// page showing who signed in; then it reads the app's /api/me.
//
// Environment: APP_URL (the gate's URL for the app), EMAIL, CHROMIUM,
// SCREENSHOT (the PNG to write). Prints "me: <the /api/me JSON>" and exits
// 0 only if every check held.

import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { chromium } from "playwright-core";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const APP = env("APP_URL").replace(/\/$/, "");
const EMAIL = env("EMAIL");
const SCREENSHOT = env("SCREENSHOT");
mkdirSync(dirname(SCREENSHOT), { recursive: true });

const browser = await chromium.launch({
  executablePath: env("CHROMIUM"),
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
let failed = false;
try {
  const page = await (await browser.newContext()).newPage();
  const visited = [];
  page.on("request", (request) => {
    if (request.isNavigationRequest()) visited.push(new URL(request.url()).origin);
  });
  await page.goto(`${APP}/`);
  await page.waitForSelector("#email", { timeout: 30000 });
  const shown = (await page.textContent("#email")).trim();
  if (shown !== EMAIL) throw new Error(`the page shows ${shown}, not ${EMAIL}`);
  if (!visited.some((origin) => origin !== APP)) throw new Error("the browser was never sent to sign in");
  console.log(`ok: the Flask page shows ${shown} after ${visited.length} navigations`);
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  const me = await page.goto(`${APP}/api/me`);
  if (me.status() !== 200) throw new Error(`/api/me answered ${me.status()}`);
  console.log(`me: ${JSON.stringify(await me.json())}`);
} catch (error) {
  failed = true;
  console.error(error);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
