// HS256 JWTs made by the tests, independently of the server's code (join tokens, docs/protocol.md
// "Join tokens").
import { createHmac } from 'node:crypto';

// A token with these claims, signed with `secret`; `header` for tests of a bad one.
export function jwt(claims, secret, header = { alg: 'HS256', typ: 'JWT' }) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

// A join token for `sub` in `room`, valid for `ttlS` seconds from now.
export function joinToken(secret, room, sub, ttlS = 300) {
  const now = Math.floor(Date.now() / 1000);
  return jwt({ room, sub, iat: now, exp: now + ttlS }, secret);
}
