// A certified OpenID provider (the npm package `oidc-provider`) for the auth crate's
// interoperability test: the crate's OAuth2 client logs in against it exactly as it logs in
// against the crate's own stand-in provider.
//
// Configured entirely by environment variables, so the test decides the port and the client:
//   PORT           the loopback port to listen on (the issuer is http://127.0.0.1:PORT)
//   CLIENT_ID      the one registered client
//   CLIENT_SECRET  its secret (client_secret_basic)
//   REDIRECT_URI   its one registered redirect URI
//
// The user's part of the login (typing a password, clicking "allow") is replaced by an
// interaction route that logs the fixed test account in and grants what was asked: the test is
// about the protocol between the client and the provider, not about a login page.
//
// Prints one line, `listening <issuer>`, once it accepts connections; the test waits for it.

import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

const env = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} must be set`);
    process.exit(2);
  }
  return value;
};

const port = Number(env('PORT'));
const issuer = `http://127.0.0.1:${port}`;

// The test account, and the claims each scope releases.
const ACCOUNT = {
  sub: 'interop-user-1',
  preferred_username: 'interop-user',
  email: 'interop-user@provider.test',
  email_verified: true,
};

// A fresh RSA key per run: oidc-provider signs id_tokens with RS256 by default, so the client's
// RS256 path is what this test exercises (the stand-in provider signs EdDSA).
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'interop-rs256', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: env('CLIENT_ID'),
      client_secret: env('CLIENT_SECRET'),
      redirect_uris: [env('REDIRECT_URI')],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: {
    openid: ['sub'],
    profile: ['preferred_username'],
    email: ['email', 'email_verified'],
  },
  features: { devInteractions: { enabled: false } },
  // Every authorization request needs PKCE, as the stand-in provider demands.
  pkce: { required: () => true },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, id) {
    if (id !== ACCOUNT.sub) return undefined;
    return { accountId: id, claims: async () => ({ ...ACCOUNT }) };
  },
});

// The user's side of the login: sign the test account in, then grant the requested scopes and
// claims. Each step answers with a 303 back into the provider, which decides what comes next.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (prompt.name === 'login') {
    await provider.interactionFinished(req, res, { login: { accountId: ACCOUNT.sub } }, { mergeWithLastSubmission: false });
    return;
  }
  if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(resource, scopes.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  res.statusCode = 400;
  res.end(`unexpected prompt ${prompt.name}`);
}

const handle = provider.callback();
const server = createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      console.error(err);
      res.statusCode = 500;
      res.end('interaction failed');
    });
    return;
  }
  handle(req, res);
});

server.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});

// The test kills the process when it is done; end cleanly on the usual signals too.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
