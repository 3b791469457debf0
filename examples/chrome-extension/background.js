// The extension's service worker: signs in with chrome.identity, keeps the
// Google ID token in session storage (never in a URL or a page), and calls
// the app's API with it as a Bearer token. The app answers CORS only for
// this extension's origin; no host permissions are needed or asked for.

import { config } from "./config.js";

const TOKEN_KEY = "idToken";

async function settings() {
  const { overrides } = await chrome.storage.local.get("overrides");
  return { ...config, ...(overrides || {}) };
}

/** Points the extension at another app (tests, staging). */
async function configure(overrides) {
  await chrome.storage.local.set({ overrides });
}

function expiryOf(jwt) {
  const payload = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(payload)).exp;
}

/** Keeps a token until shortly before it expires. */
async function cacheIdToken(token) {
  await chrome.storage.session.set({ [TOKEN_KEY]: { token, expiresAt: expiryOf(token) } });
}

async function cachedIdToken() {
  const margin = (await settings()).expiryMarginSeconds;
  const entry = (await chrome.storage.session.get(TOKEN_KEY))[TOKEN_KEY];
  const now = Math.floor(Date.now() / 1000);
  return entry && entry.expiresAt - margin > now ? entry.token : null;
}

/** Google sign-in for an ID token (implicit flow: the extension has no
 * back end to exchange a code); the app verifies signature and audience,
 * the nonce ties the token to this sign-in. */
async function signIn() {
  const s = await settings();
  const nonce = crypto.randomUUID();
  const url = new URL(s.authorizationEndpoint);
  url.search = new URLSearchParams({
    client_id: s.clientId,
    response_type: "id_token",
    redirect_uri: chrome.identity.getRedirectURL(),
    scope: "openid email profile",
    nonce,
    prompt: "select_account",
  }).toString();
  const redirected = await chrome.identity.launchWebAuthFlow({ url: url.toString(), interactive: true });
  const fragment = new URLSearchParams(new URL(redirected).hash.slice(1));
  const token = fragment.get("id_token");
  if (!token) throw new Error(fragment.get("error") || "no ID token");
  const claims = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  if (claims.nonce !== nonce) throw new Error("the ID token is not for this sign-in");
  await cacheIdToken(token);
  return token;
}

async function idToken({ interactive }) {
  const cached = await cachedIdToken();
  if (cached) return cached;
  if (!interactive) return null;
  return signIn();
}

/** Calls the app's API; a 401 drops the cached token. */
async function callApi(path, { interactive = false } = {}) {
  const token = await idToken({ interactive });
  if (!token) return { status: 401, body: { error: "signed_out" } };
  const response = await fetch(new URL(path, (await settings()).apiBase), {
    headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
  });
  if (response.status === 401) await chrome.storage.session.remove(TOKEN_KEY);
  return { status: response.status, body: await response.json().catch(() => null) };
}

async function signOut() {
  await chrome.storage.session.remove(TOKEN_KEY);
}

chrome.runtime.onMessage.addListener((message, _sender, reply) => {
  const handlers = {
    me: () => callApi("/api/me", { interactive: true }),
    signOut: () => signOut().then(() => ({ status: 200 })),
  };
  const handler = handlers[message && message.type];
  if (!handler) return false;
  handler().then(reply, (error) => reply({ status: 0, body: { error: String(error.message || error) } }));
  return true;
});

// For tests and the console: the same functions the popup uses.
globalThis.extension = { configure, cacheIdToken, cachedIdToken, callApi, signOut };
