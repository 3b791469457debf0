// A certified OpenID Provider for the tests: panva's oidc-provider
// (https://openid.net/certification/, "panva/node-oidc-provider"), in its
// default configuration but for what a deployment must say itself:
// - the one client (ours), registered for our callback and sign-out page;
// - the accounts: any login name signs in (the dev interactions), with a
//   verified e-mail equal to the login name; `sub` is the login name;
// - which claims the `email` and `profile` scopes release (the default
//   releases none): by default they come from UserInfo only, not the ID
//   token (`conformIdTokenClaims`, OpenID Connect Core 5.4);
// - token revocation (RFC 7009), off by default, so sign-out can revoke;
// - back-channel logout (OpenID Connect Back-Channel Logout 1.0), off by
//   default, for our client's BACKCHANNEL_LOGOUT_URI with
//   `backchannel_logout_session_required` (ID and logout tokens carry `sid`).
// Everything else is the library's: refresh tokens only with the
// `offline_access` scope and `prompt=consent`, RFC 9207 `iss` in
// authorization responses, RP-initiated logout with its confirmation form.
//
// Environment: PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI,
// POST_LOGOUT_REDIRECT_URI, BACKCHANNEL_LOGOUT_URI. Prints "listening
// <issuer>" once ready, then one line per token-endpoint grant
// ("grant.success <grant_type>"), per revoked grant ("grant.revoked") and
// per logout token delivered ("backchannel.success", or "backchannel.error
// <message>"), so a test can tell whether the service really asked the
// provider, or answered it (no token or grant id is printed).

import Provider from 'oidc-provider';

const {
  PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, POST_LOGOUT_REDIRECT_URI, BACKCHANNEL_LOGOUT_URI,
} = process.env;
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
      backchannel_logout_uri: BACKCHANNEL_LOGOUT_URI,
      backchannel_logout_session_required: true,
    },
  ],
  claims: {
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  features: {
    revocation: { enabled: true },
    backchannelLogout: { enabled: true },
  },
  // Its outgoing requests refuse special-use addresses (SSRF protection,
  // lib/helpers/fetch_request.js), loopback among them; here our service
  // is on loopback, so the one request to our back-channel logout URI goes
  // without that check (any other keeps it).
  fetch: (url, options) => {
    if (BACKCHANNEL_LOGOUT_URI && new URL(url).href === new URL(BACKCHANNEL_LOGOUT_URI).href) {
      const { dispatcher, ...unchecked } = options;
      return globalThis.fetch(url, unchecked);
    }
    return globalThis.fetch(url, options);
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
provider.on('backchannel.success', () => {
  console.log('backchannel.success');
});
provider.on('backchannel.error', (ctx, error) => {
  console.log(`backchannel.error ${error.message}`);
});

provider.listen(Number(PORT), '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
