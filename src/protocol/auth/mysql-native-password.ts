import { createHash, timingSafeEqual } from 'node:crypto';
import { assert, type Decoded, decodedError, decodedOk } from '../decoded.js';

export const mysqlNativePasswordPlugin = 'mysql_native_password';
const sha1Bytes = 20;

function sha1(...parts: Uint8Array[]): Buffer {
  const hash = createHash('sha1');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

function xor(a: Uint8Array, b: Uint8Array): Buffer {
  assert(a.length === b.length, 'xor of equal lengths');
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i += 1) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** stage1 = SHA1(password): what a client derives from the password. */
export function nativePasswordStage1(password: string): Buffer {
  return sha1(Buffer.from(password, 'utf8'));
}

/** stage2 = SHA1(SHA1(password)): what the server stores (`*HEX` in mysql.global_priv). */
export function nativePasswordStage2(stage1: Uint8Array): Buffer {
  return sha1(stage1);
}

/**
 * The client's token for a scramble: SHA1(pw) XOR SHA1(scramble ‖ SHA1(SHA1(pw))). Empty for an
 * empty password, as the protocol requires. Takes stage1 so a proxy holding only the recovered
 * SHA1(pw) can log in as the user.
 */
export function nativePasswordTokenFromStage1(stage1: Uint8Array, scramble: Uint8Array): Buffer {
  return xor(stage1, sha1(scramble, nativePasswordStage2(stage1)));
}

export function nativePasswordToken(password: string, scramble: Uint8Array): Buffer {
  if (password === '') return Buffer.alloc(0);
  return nativePasswordTokenFromStage1(nativePasswordStage1(password), scramble);
}

/**
 * Parses the stored hash as MariaDB shows it (`*` + 40 hex digits, from
 * `mysql.user.authentication_string`) into stage2. '' means "no password".
 */
export function parseNativePasswordHash(text: string): Decoded<Buffer | undefined> {
  if (text === '') return decodedOk(undefined);
  if (!/^\*[0-9A-Fa-f]{40}$/.test(text)) {
    return decodedError('MALFORMED', 'a mysql_native_password hash is "*" followed by 40 hex digits');
  }
  return decodedOk(Buffer.from(text.slice(1), 'hex'));
}

/**
 * Verifies a client's token against the stored stage2 and, when it matches, returns stage1 =
 * SHA1(password): token XOR SHA1(scramble ‖ stage2), checked by SHA1(stage1) = stage2. The proxy
 * uses stage1 to log in to backends as the same user without knowing the password.
 * `stage2` undefined means the account has no password: only an empty token matches.
 */
export function verifyNativePassword(
  token: Uint8Array,
  scramble: Uint8Array,
  stage2: Uint8Array | undefined,
): { readonly ok: true; readonly stage1: Buffer | undefined } | { readonly ok: false } {
  if (stage2 === undefined) return token.length === 0 ? { ok: true, stage1: undefined } : { ok: false };
  if (token.length !== sha1Bytes || stage2.length !== sha1Bytes) return { ok: false };
  const stage1 = xor(token, sha1(scramble, stage2));
  return timingSafeEqual(sha1(stage1), stage2) ? { ok: true, stage1 } : { ok: false };
}
