// An OpenID Connect issuer for scripts/interop/otdf-python.sh: node-oidc-provider
// (OpenID Certified), configured as an organisation's Keycloak-like issuer would be
// for machine clients: client_credentials, RS256 JWT access tokens for the audience
// `accord-kas`, DPoP-bound when the client sends a proof, `accord_person` (a claim
// only the issuer's administrators set) naming the person.
//
//   node issuer.mjs PORT CERT.pem KEY.pem CLIENTS.json
//
// CLIENTS.json: [{"client_id", "client_secret", "person"}]. The issuer is
// https://localhost:PORT; it prints "ready" when it listens.
import Provider from 'oidc-provider';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';

const [port, certFile, keyFile, clientsFile] = process.argv.slice(2);
const issuer = `https://localhost:${port}`;
const clients = JSON.parse(fs.readFileSync(clientsFile, 'utf8'));
const person = Object.fromEntries(clients.map((c) => [c.client_id, c.person]));

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signing = { ...privateKey.export({ format: 'jwk' }), kid: 'interop-rs256', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_post',
  })),
  jwks: { keys: [signing] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    dPoP: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'https://accord-kas',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'openid profile email',
        audience: 'accord-kas',
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  extraTokenClaims: (_ctx, token) => ({ accord_person: person[token.clientId] }),
  routes: { token: '/protocol/openid-connect/token', jwks: '/protocol/openid-connect/certs' },
});

https
  .createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) }, provider.callback())
  .listen(Number(port), '127.0.0.1', () => console.log('ready'));
