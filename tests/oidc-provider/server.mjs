// A certified OpenID Provider for the tests: panva's oidc-provider
// (https://openid.net/certification/, "panva/node-oidc-provider"), in its
// default configuration but for what a deployment must say itself:
// - the one client (ours), registered for our callback and sign-out page;
// - the accounts: any login name signs in (the dev interactions), with a
//   verified e-mail equal to the login name; `sub` is the login name;
// - which claims the `email` and `profile` scopes release (the default
//   releases none): by default they come from UserInfo only, not the ID
//   token (`conformIdTokenClaims`, OpenID Connect Core 5.4);
// - token revocation (RFC 7009), off by default, so sign-out can revoke.
// Everything else is the library's: refresh tokens only with the
// `offline_access` scope and `prompt=consent`, RFC 9207 `iss` in
// authorization responses, RP-initiated logout with its confirmation form.
//
// Environment: PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI,
// POST_LOGOUT_REDIRECT_URI. Prints "listening <issuer>" once ready, then
// one line per token-endpoint grant ("grant.success <grant_type>") and per
// revoked grant ("grant.revoked"), so a test can tell whether the service
// really asked the provider (no token or grant id is printed).

import Provider from 'oidc-provider';

const { PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, POST_LOGOUT_REDIRECT_URI } = process.env;
const issuer = `http://127.0.0.1:${PORT}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [REDIRECT_URI],
      post_logout_redirect_uris: [POST_LOGOUT_REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  claims: {
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  features: {
    revocation: { enabled: true },
  },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        const local = id.split('@')[0];
        return {
          sub: id,
          email: id,
          email_verified: true,
          name: local.charAt(0).toUpperCase() + local.slice(1),
        };
      },
    };
  },
});

// Quiet: the test's output is about the services.
provider.on('server_error', (ctx, error) => {
  console.error('oidc-provider server_error:', error.message);
});

// The events a test checks (https://github.com/panva/node-oidc-provider/blob/main/docs/events.md).
provider.on('grant.success', (ctx) => {
  console.log(`grant.success ${ctx.oidc.params.grant_type}`);
});
provider.on('grant.error', (ctx, error) => {
  console.log(`grant.error ${ctx.oidc.params?.grant_type} ${error.error}`);
});
provider.on('grant.revoked', () => {
  console.log('grant.revoked');
});

provider.listen(Number(PORT), '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
