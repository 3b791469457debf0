// "Where you're signed in" in a real browser: two browser contexts (a
// desktop and a phone) sign in as the same person; both see the two
// sessions on the public service's page; the desktop ends the phone's
// session; the phone's app page then sends it to sign in again (the app
// polls the revoked-sessions feed, every second in the tests).
// Then what a person reads: the page names the account, its notice gives
// the bound in seconds, its secondary links sit on the content's edge, a
// browser that is not signed in is led through sign-in back to the page,
// the start page greets a signed-in person, and sign-out in a browser
// that never signed in says there is nothing to sign out of.
// Screenshots of the page at both widths.
//
// Environment: APP_URL, AUTH_URL, PROVIDER_URL, CHROMIUM, ARTIFACTS.
// Exit status 0 only if every check held.

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
  const desktop = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  const phone = await (
    await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true })
  ).newPage();
  const snap = (page, name) => page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });

  for (const page of [desktop, phone]) {
    await page.goto(`${APP}/`);
    await page.waitForSelector("#email");
    await page.fill("#email", "alice@example.com");
    await Promise.all([page.waitForURL(`${APP}/`), page.click("#approve")]);
  }

  // Both browsers see both sessions, each marked as "this browser" once.
  for (const [name, page] of [["desktop", desktop], ["phone", phone]]) {
    await Promise.all([page.waitForURL(/\/account\/sessions/), page.click("#sessions")]);
    check(page.url().startsWith(`${AUTH}/account/sessions`), `${name}: the app links to the sessions page`);
    check((await page.locator("li.session").count()) === 2, `${name}: the page lists both browsers`);
    check((await page.locator("#this-browser").count()) === 1, `${name}: one row is this browser`);
    check(
      (await page.textContent("#account")).includes("alice@example.com"),
      `${name}: the page names the account it lists`,
    );
    const edges = await page.evaluate(() => {
      const left = (selector) => document.querySelector(selector).getBoundingClientRect().left;
      return { heading: left("h1"), back: left("#back") };
    });
    check(Math.abs(edges.back - edges.heading) < 1, `${name}: the secondary links sit on the content's edge`);
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    check(overflow <= 0, `${name}: the page fits the width`);
    await snap(page, `${name}-01-sessions`);
  }

  // The desktop ends the phone's session.
  await Promise.all([page_waits_for_done(desktop), desktop.click("button.end")]);
  check(await desktop.isVisible("#done"), "desktop: the page says the session was ended");
  check(
    /within about \d+ seconds/.test(await desktop.textContent("#done")),
    "desktop: the notice gives the apps' bound in seconds",
  );
  check((await desktop.locator("li.session").count()) === 1, "desktop: only this browser is left");
  await snap(desktop, "desktop-02-other-ended");
  await Promise.all([desktop.waitForURL(`${APP}/`), desktop.click("#back")]);
  check((await desktop.textContent("#email")) === "alice@example.com", "desktop: still signed in to the app");

  // The phone's app page sends it to sign in again within the bound.
  let asked = false;
  for (let i = 0; i < 30 && !asked; i++) {
    await phone.goto(`${APP}/`);
    asked = phone.url().startsWith(PROVIDER);
    if (!asked) await phone.waitForTimeout(200);
  }
  check(asked, "phone: the app refused the ended session and sent it to sign in again");
  await phone.waitForSelector("#email");
  await snap(phone, "phone-02-asked-to-sign-in-again");

  // The start page greets the signed-in desktop and leads to its sessions.
  await desktop.goto(`${AUTH}/`);
  check(
    (await desktop.textContent("#signed-in-as")).includes("alice@example.com"),
    "desktop: the start page says who is signed in",
  );
  check(
    (await desktop.getAttribute("#sessions", "href")) === "/account/sessions",
    "desktop: the start page links to the sessions page",
  );

  // A browser that never signed in.
  const fresh = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await fresh.goto(`${AUTH}/logout`);
  check(await fresh.isVisible("#not-signed-in"), "fresh: sign-out says there is nothing to sign out of");
  check((await fresh.locator("#sign-out").count()) === 0, "fresh: sign-out asks nothing");
  await fresh.goto(`${AUTH}/account/sessions`);
  await Promise.all([fresh.waitForURL(new RegExp(`^${PROVIDER}`)), fresh.click("#way-on")]);
  await fresh.fill("#email", "alice@example.com");
  await Promise.all([fresh.waitForURL(/\/account\/sessions/), fresh.click("#approve")]);
  check(
    fresh.url().startsWith(`${AUTH}/account/sessions`) &&
      (await fresh.textContent("#account")).includes("alice@example.com"),
    "fresh: signing in from the sessions page leads back to it",
  );
  await snap(fresh, "desktop-03-back-on-the-page-after-sign-in");
} catch (error) {
  failed = true;
  console.error(error.stack || String(error));
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);

function page_waits_for_done(page) {
  return page.waitForURL(/\/account\/sessions\?done=one/);
}
