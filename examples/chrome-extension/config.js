// Edit for your deployment. The app must list this extension's origin in
// CORS_ALLOWED_ORIGINS (chrome-extension://<id>) and CLIENT_ID in
// ID_TOKEN_AUDIENCES; register chrome.identity.getRedirectURL() as a
// redirect URI of that OAuth client (a "Web application" client in the
// Google Cloud console).
export const config = {
  // The private app's URL (the API the extension calls).
  apiBase: "https://app.example.com",
  // The OAuth client the extension signs in with.
  clientId: "1234567890-abc.apps.googleusercontent.com",
  authorizationEndpoint: "https://accounts.google.com/o/oauth2/v2/auth",
  // A cached ID token is used only while it has this long left.
  expiryMarginSeconds: 300,
};
