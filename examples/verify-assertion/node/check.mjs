// Reads {"issuer", "audience", "jwks_url", "tokens": {name: token}} on
// stdin and prints, for each name, "accepted <sub>" or "refused <reason>":
// the tests feed verify.mjs tokens through it.
import { text } from "node:stream/consumers";
import { assertionVerifier } from "./verify.mjs";

const request = JSON.parse(await text(process.stdin));
const verify = assertionVerifier({
  issuer: request.issuer,
  audience: request.audience,
  jwksUrl: request.jwks_url,
});
const answers = {};
for (const [name, token] of Object.entries(request.tokens)) {
  try {
    answers[name] = `accepted ${(await verify(token)).sub}`;
  } catch (error) {
    answers[name] = `refused ${error.code ? `${error.code}: ` : ""}${error.message}`;
  }
}
process.stdout.write(JSON.stringify(answers));
