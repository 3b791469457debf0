// The pages a newcomer meets, in a real browser at a desktop and a phone
// width, each checked by its content and saved as a screenshot:
//   the public service's start page (its wording), the app's signed-in page
//   (a readable expiry), the sign-out confirmation (with a Cancel that goes
//   back), the app's 404 for a browser (HTML with a way on; JSON for an API
//   client), the public service's error page (a way on) and the favicon.
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

const widths = [
  { name: "desktop", viewport: { width: 1280, height: 800 } },
  { name: "phone", viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true },
];

const browser = await chromium.launch({
  executablePath: env("CHROMIUM"),
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
let failed = false;
try {
  for (const { name: width, ...options } of widths) {
    const context = await browser.newContext(options);
    const page = await context.newPage();
    const snap = (name) =>
      page.screenshot({ path: `${ARTIFACTS}/${width}-${name}.png`, fullPage: true });
    const fitsTheWidth = async (what) => {
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      );
      check(overflow <= 0, `${width}: ${what} fits the width without scrolling sideways`);
    };

    // The start page: plain wording whatever the provider is called.
    await page.goto(`${AUTH}/`);
    const start = await page.textContent("main");
    check(start.includes("your account at Mock"), `${width}: the start page reads "your account at Mock"`);
    check(!/your the\b/.test(start), `${width}: no "your the" on the start page`);
    await fitsTheWidth("the start page");
    await snap("01-start");

    // Sign in, then the app's page: a readable expiry, no Unix timestamp.
    await page.click("#sign-in");
    await page.waitForSelector("#email");
    check(page.url().startsWith(PROVIDER), `${width}: the start page's button leads to the provider`);
    await page.fill("#email", "alice@example.com");
    await Promise.all([page.waitForURL(`${APP}/`), page.click("#approve")]);
    const expires = (await page.textContent("#expires")).trim();
    check(
      /^in (less than a minute|\d+ minutes?) \(at \d\d:\d\d UTC\)$/.test(expires),
      `${width}: the expiry reads "${expires}"`,
    );
    check(!/\d{9,}/.test(expires), `${width}: no Unix timestamp in the expiry`);
    const icon = await page.getAttribute('link[rel="icon"]', "href");
    check(icon === "/favicon.svg", `${width}: the app's page names its favicon`);
    await fitsTheWidth("the signed-in page");
    await snap("02-signed-in");

    // The favicon, on both services, as an SVG image.
    for (const origin of [APP, AUTH]) {
      for (const path of ["/favicon.svg", "/favicon.ico"]) {
        const response = await context.request.get(`${origin}${path}`);
        check(
          response.status() === 200 && response.headers()["content-type"].startsWith("image/svg+xml"),
          `${width}: ${origin}${path} is an SVG icon`,
        );
      }
    }

    // The sign-out confirmation (a sign-out link's target) has a Cancel
    // that goes back to the app, still signed in.
    await page.goto(`${AUTH}/logout?return_to=${encodeURIComponent(`${APP}/`)}`);
    check((await page.textContent("h1")).includes("Sign out?"), `${width}: the sign-out confirmation is shown`);
    check(await page.isVisible("#cancel"), `${width}: the confirmation offers Cancel`);
    await fitsTheWidth("the sign-out confirmation");
    await snap("03-sign-out-confirmation");
    await Promise.all([page.waitForURL(`${APP}/`), page.click("#cancel")]);
    check((await page.textContent("#email")) === "alice@example.com", `${width}: Cancel goes back, still signed in`);

    // The app's 404: a page with a way on for a browser, JSON for an API.
    const missing = await page.goto(`${APP}/no-such-page`);
    check(missing.status() === 404, `${width}: the app answers 404`);
    check((await page.textContent("h1")).includes("Page not found"), `${width}: the app's 404 is a page`);
    await fitsTheWidth("the app's 404");
    await snap("04-app-not-found");
    await Promise.all([page.waitForURL(`${APP}/`), page.click("#way-on")]);
    check((await page.textContent("#email")) === "alice@example.com", `${width}: the 404's link leads home`);
    const api = await context.request.get(`${APP}/no-such-page`, { headers: { accept: "application/json" } });
    check(api.status() === 404 && (await api.json()).error === "not_found", `${width}: an API client gets JSON`);

    // The public service's error pages offer a way on too.
    const refused = await page.goto(`${AUTH}/login?return_to=${encodeURIComponent("https://elsewhere.example/")}`);
    check(refused.status() === 400, `${width}: a foreign return_to is refused`);
    check(await page.isVisible("#way-on"), `${width}: the refusal offers a way on`);
    await fitsTheWidth("the error page");
    await snap("05-error-page");
    const notFound = await page.goto(`${AUTH}/no-such-page`);
    check(notFound.status() === 404 && (await page.isVisible("#way-on")), `${width}: the public 404 offers a way on`);
    await Promise.all([page.waitForURL(`${AUTH}/`), page.click("#way-on")]);
    // Signed in by now: the start page greets the person instead of offering to sign in.
    check(await page.isVisible("#signed-in-as"), `${width}: the way on is the start page, greeting the person`);
    await context.close();
  }
} catch (error) {
  failed = true;
  console.error(error.stack || String(error));
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
