// The Chrome extension (examples/chrome-extension) loaded unpacked into
// headless Chromium signs in for real: its service worker's signIn() runs
// chrome.identity.launchWebAuthFlow against the mock provider's
// authorization endpoint (the implicit ID-token flow), the auth window is
// a page of the browser context where this script types an address and
// clicks Approve, and Chromium hands the redirect to
// https://<id>.chromiumapp.org/#id_token=… back to the extension. It then
// calls the API (the private app, or an app behind the gate) with the ID
// token as a Bearer token, across CORS. Also: a token of another OAuth
// client (audience) is refused and dropped, and a page of an origin not on
// the CORS list cannot read the API's answers.
//
// Environment: API_URL, PROVIDER_URL, EXTENSION_DIR, EXTENSION_ID,
// CLIENT_ID, UNLISTED_CLIENT_ID, EMAIL, STRANGER_PAGE_URL, CHROMIUM,
// ARTIFACTS; UPSTREAM_ECHOES=1 when the API is an upstream that answers
// with the headers it received (behind the gate). Exit 0 only if every
// check held.

import { mkdirSync, mkdtempSync } from "node:fs";
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

const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());

/** Who the API says the caller is: the app's `email`, or the identity
 * header the gate gave the echoing upstream. */
function emailIn(body) {
  if (process.env.UPSTREAM_ECHOES) return body?.headers?.["x-forwarded-email"]?.[0];
  return body?.email;
}

const extension = env("EXTENSION_DIR");
const extensionId = env("EXTENSION_ID");
const artifacts = env("ARTIFACTS");
mkdirSync(artifacts, { recursive: true });
const authorizationEndpoint = `${env("PROVIDER_URL")}/o/oauth2/v2/auth`;

const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "ext-")), {
  executablePath: env("CHROMIUM"),
  headless: true,
  args: ["--no-sandbox", `--disable-extensions-except=${extension}`, `--load-extension=${extension}`],
});

/** Runs `call` in the service worker while the auth window it opens is
 * driven like a person would: the provider's sign-in form, an address,
 * Approve. Returns the call's result and the authorization request. */
async function withSignIn(worker, call, shot) {
  const authWindow = context.waitForEvent("page", { timeout: 20000 });
  const result = worker.evaluate(call);
  const page = await authWindow;
  await page.waitForSelector("#approve");
  const request = new URL(page.url());
  await page.fill("#email", env("EMAIL"));
  await page.screenshot({ path: join(artifacts, `${shot}.png`) });
  await page.click("#approve");
  return { answer: await result, request, page };
}

let failed = false;
try {
  let [worker] = context.serviceWorkers();
  if (!worker) worker = await context.waitForEvent("serviceworker", { timeout: 20000 });
  check(worker.url().startsWith(`chrome-extension://${extensionId}/`), `the extension loaded (${worker.url()})`);
  await worker.evaluate(
    (overrides) => globalThis.extension.configure(overrides),
    { apiBase: env("API_URL"), clientId: env("CLIENT_ID"), authorizationEndpoint },
  );

  let answer = await worker.evaluate(() => globalThis.extension.callApi("/api/me"));
  check(answer.status === 401, "signed out, the extension does not call without asking to sign in");

  // The real sign-in: launchWebAuthFlow, interactive, as the popup's button does.
  const first = await withSignIn(
    worker,
    () => globalThis.extension.callApi("/api/me", { interactive: true }),
    "01-provider-sign-in",
  );
  const asked = first.request.searchParams;
  check(first.request.origin === new URL(authorizationEndpoint).origin, "the auth window opened at the provider");
  check(asked.get("response_type") === "id_token", "the implicit ID-token flow");
  check(
    asked.get("redirect_uri") === `https://${extensionId}.chromiumapp.org/`,
    `to the extension's redirect URL (${asked.get("redirect_uri")})`,
  );
  check(asked.get("client_id") === env("CLIENT_ID"), "for the extension's OAuth client");
  check((asked.get("nonce") || "").length >= 32, "with a fresh nonce");
  check(first.answer.status === 200, `the API answered the signed-in extension (${first.answer.status})`);
  check(emailIn(first.answer.body) === env("EMAIL"), `as the person who signed in (${emailIn(first.answer.body)})`);
  check(first.page.isClosed(), "the auth window closed at the redirect");

  const token = await worker.evaluate(() => globalThis.extension.cachedIdToken());
  check(token !== null, "the ID token is kept in the extension's session storage");
  const claims = claimsOf(token);
  check(claims.aud === env("CLIENT_ID"), "its audience is the extension's client");
  check(claims.nonce === asked.get("nonce"), "its nonce is the sign-in's");

  const pagesBefore = context.pages().length;
  answer = await worker.evaluate(() => globalThis.extension.callApi("/api/me"));
  check(answer.status === 200 && context.pages().length === pagesBefore, "a second call uses the kept token, no sign-in");

  // A page of an origin the API does not list: the browser will not hand
  // it the answer, with or without the token; it reaches the server
  // (an opaque no-cors answer), but cannot read it.
  const stranger = await context.newPage();
  await stranger.goto(env("STRANGER_PAGE_URL"));
  const attempts = await stranger.evaluate(
    async ({ url, token }) => {
      const attempt = (init) =>
        fetch(url, init).then(
          (r) => `read ${r.status}`,
          (e) => `refused: ${e.name}`,
        );
      return {
        origin: location.origin,
        withToken: await attempt({ headers: { Authorization: `Bearer ${token}` } }),
        plain: await attempt({}),
        opaque: await fetch(url, { mode: "no-cors" }).then((r) => r.type, (e) => `error ${e}`),
      };
    },
    { url: new URL("/api/me", env("API_URL")).toString(), token },
  );
  check(attempts.withToken === "refused: TypeError", `${attempts.origin} cannot read the API with the token (${attempts.withToken})`);
  check(attempts.plain === "refused: TypeError", `nor without it (${attempts.plain})`);
  check(attempts.opaque === "opaque", "though the API is reachable from there (an opaque answer)");
  await stranger.close();

  // Signed in with another OAuth client of the same extension: a real,
  // provider-signed token for an audience the API does not list.
  await worker.evaluate(() => globalThis.extension.signOut());
  await worker.evaluate(
    (overrides) => globalThis.extension.configure(overrides),
    { apiBase: env("API_URL"), clientId: env("UNLISTED_CLIENT_ID"), authorizationEndpoint },
  );
  const other = await withSignIn(
    worker,
    () => globalThis.extension.callApi("/api/me", { interactive: true }),
    "02-provider-sign-in-other-client",
  );
  check(other.request.searchParams.get("client_id") === env("UNLISTED_CLIENT_ID"), "signed in with the unlisted client");
  check(other.answer.status === 401, `a token for another audience is refused (${other.answer.status})`);
  check((await worker.evaluate(() => globalThis.extension.cachedIdToken())) === null, "and dropped from the extension");
} catch (error) {
  failed = true;
  console.error(error.stack || String(error));
} finally {
  await context.close();
}
process.exit(failed ? 1 : 0);
