// The whole product in a real browser: headless Debian Chromium, the public
// service and the app on two host names (localhost and 127.0.0.1, so no
// cookie is shared), the mock provider's sign-in form.
//
// Steps, each checked by page text and saved as a screenshot:
//   1. the app sends an anonymous visitor to the provider's sign-in form;
//   2. after approving, the app's page shows who signed in;
//   3. when the handoff cookie expires (its real Max-Age), the next page
//      load renews silently: no provider page, same user;
//   4. the app's sign-out button ends the session: the signed-out page;
//   5. opening the app again asks to sign in again.
//
// Environment: APP_URL, AUTH_URL, PROVIDER_URL, CHROMIUM, ARTIFACTS,
// HANDOFF_TTL_SECONDS. Exit status 0 only if every check held.

import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const APP = env("APP_URL").replace(/\/$/, "");
const AUTH = env("AUTH_URL").replace(/\/$/, "");
const PROVIDER = env("PROVIDER_URL").replace(/\/$/, "");
const ARTIFACTS = env("ARTIFACTS");
const TTL = Number(env("HANDOFF_TTL_SECONDS"));
const EMAIL = "alice@example.com";

mkdirSync(ARTIFACTS, { recursive: true });

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
  console.log(`ok: ${message}`);
}

const browser = await chromium.launch({
  executablePath: env("CHROMIUM"),
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
let failed = false;
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  const visited = [];
  page.on("request", (request) => {
    if (request.isNavigationRequest()) visited.push(request.url());
  });
  let step = 0;
  const snap = async (name) => {
    step += 1;
    await page.screenshot({ path: `${ARTIFACTS}/${String(step).padStart(2, "0")}-${name}.png`, fullPage: true });
  };
  const handoffCookie = async () =>
    (await context.cookies(APP)).find((c) => c.name === "__Host-handoff");

  // 1. Anonymous: to the provider's form.
  await page.goto(`${APP}/`);
  await page.waitForSelector("#email");
  check(page.url().startsWith(PROVIDER), `an anonymous visit lands on the provider (${page.url()})`);
  check((await page.textContent("h1")).includes("Mock provider"), "the provider's sign-in form is shown");
  await snap("provider-sign-in");

  // 2. Approve: back on the app, signed in.
  await page.fill("#email", EMAIL);
  await Promise.all([page.waitForURL(`${APP}/`), page.click("#approve")]);
  check((await page.textContent("#email")) === EMAIL, "the app shows the signed-in e-mail");
  check(!visited.some((u) => /eyJ[\w-]+\.[\w-]+\./.test(u)), "no JWT appeared in any URL");
  const cookie = await handoffCookie();
  check(cookie && cookie.httpOnly && cookie.secure && cookie.sameSite === "Lax", "the app holds an HttpOnly, Secure, Lax handoff cookie");
  const lifetime = cookie.expires - Date.now() / 1000;
  check(lifetime > 0 && lifetime <= TTL + 2, `the cookie lives no longer than the token (${Math.round(lifetime)} s)`);
  check(!(await context.cookies(AUTH)).some((c) => c.name.includes("handoff")), "the public service holds no handoff cookie");
  await snap("signed-in");

  // 3. Let the cookie expire for real, then load a page: silent renewal.
  const deadline = Date.now() + (TTL + 15) * 1000;
  while ((await handoffCookie()) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  check(!(await handoffCookie()), "the browser dropped the expired handoff cookie");
  const before = visited.length;
  await page.goto(`${APP}/?after=expiry`);
  await page.waitForSelector("#email");
  const hops = visited.slice(before);
  check(page.url() === `${APP}/?after=expiry`, "renewal returned to the requested page");
  check(hops.some((u) => u.startsWith(`${AUTH}/renew`)), "the app sent the browser to the renewal route");
  check(!hops.some((u) => u.startsWith(PROVIDER)), "renewal did not involve the provider");
  check((await page.textContent("#email")) === EMAIL, "still signed in as the same user");
  check(Boolean(await handoffCookie()), "a new handoff cookie was set");
  await snap("renewed-after-expiry");

  // 4. Sign out from the app's button.
  await Promise.all([page.waitForURL(`${AUTH}/signed-out**`), page.click("#sign-out")]);
  check((await page.textContent("#signed-out")).includes("You are signed out"), "the signed-out page is shown");
  check(!(await handoffCookie()), "the app's handoff cookie is gone");
  check(!(await context.cookies(AUTH)).some((c) => c.name === "__Host-session"), "the session cookie is gone");
  await snap("signed-out");

  // 5. Back to the app: asked to sign in again.
  await page.goto(`${APP}/`);
  await page.waitForSelector("#email");
  check(page.url().startsWith(PROVIDER), "the app asks to sign in again");
  await snap("asked-to-sign-in-again");
} catch (error) {
  failed = true;
  console.error(error.stack || String(error));
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
