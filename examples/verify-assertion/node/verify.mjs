// Checks the handoff token handoff-gate forwards in X-Handoff-Assertion,
// in a Node app behind the gate (defence in depth: the gate verified it
// already). The checks are handoff-guard's: ES256 only, a key of the login
// service's JWKS, `iss` the login service's URL, `aud` this app's origin,
// `sub`, `exp` and `nbf` present, `exp`/`nbf` met with 30 s of leeway.
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";

const MAX_TOKEN_LEN = 4096;

// One per app, made at start: the key set is fetched once and cached, and
// fetched again (at most every 30 s) when a token names an unknown key.
export function assertionVerifier({ issuer, audience, jwksUrl }) {
  const keys = createRemoteJWKSet(new URL(jwksUrl), { timeoutDuration: 5000 });
  return async function verify(token) {
    if (!token || token.length > MAX_TOKEN_LEN) throw new Error("no token, or one too long");
    // jose refuses a header without `kid` only when the set has several
    // keys; the login service always names its key, so require it.
    const header = decodeProtectedHeader(token);
    if (typeof header.kid !== "string" || !header.kid) throw new Error("the token header has no kid");
    const { payload } = await jwtVerify(token, keys, {
      issuer,
      audience,
      algorithms: ["ES256"],
      clockTolerance: 30,
      requiredClaims: ["sub", "exp", "nbf"],
    });
    return payload;
  };
}
