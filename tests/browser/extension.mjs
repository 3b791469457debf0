// The Chrome extension (examples/chrome-extension) loaded into headless
// Chromium: its service worker calls the app's API with a Google ID token
// (minted by the mock provider and put in the extension's cache, since the
// interactive Google sign-in cannot run here), across the app's CORS.
//
// Environment: APP_URL, EXTENSION_DIR, EXTENSION_ID, CHROMIUM, TOKEN,
// WRONG_AUDIENCE_TOKEN, EMAIL. Exit 0 only if every check held.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
  console.log(`ok: ${message}`);
}

const extension = env("EXTENSION_DIR");
const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "ext-")), {
  executablePath: env("CHROMIUM"),
  headless: true,
  args: ["--no-sandbox", `--disable-extensions-except=${extension}`, `--load-extension=${extension}`],
});
let failed = false;
try {
  let [worker] = context.serviceWorkers();
  if (!worker) worker = await context.waitForEvent("serviceworker", { timeout: 20000 });
  check(worker.url().startsWith(`chrome-extension://${env("EXTENSION_ID")}/`), `the extension loaded (${worker.url()})`);
  await worker.evaluate((apiBase) => globalThis.extension.configure({ apiBase }), env("APP_URL"));

  let answer = await worker.evaluate(() => globalThis.extension.callApi("/api/me"));
  check(answer.status === 401, "without a token the extension does not call");

  await worker.evaluate((token) => globalThis.extension.cacheIdToken(token), env("TOKEN"));
  answer = await worker.evaluate(() => globalThis.extension.callApi("/api/me"));
  check(answer.status === 200, `the app answered the extension (${answer.status})`);
  check(answer.body.email === env("EMAIL"), "as the signed-in person");

  await worker.evaluate((token) => globalThis.extension.cacheIdToken(token), env("WRONG_AUDIENCE_TOKEN"));
  answer = await worker.evaluate(() => globalThis.extension.callApi("/api/me"));
  check(answer.status === 401, "a token for another audience is refused");
  check((await worker.evaluate(() => globalThis.extension.cachedIdToken())) === null, "and dropped from the cache");
} catch (error) {
  failed = true;
  console.error(error.stack || String(error));
} finally {
  await context.close();
}
process.exit(failed ? 1 : 0);
