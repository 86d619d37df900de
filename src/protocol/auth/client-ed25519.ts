import { createHash, createPublicKey, verify } from 'node:crypto';
import { assert, type Decoded, decodedError, decodedOk } from '../decoded.js';

/**
 * MariaDB's `client_ed25519` plugin. The server stores the 32-byte public key (base64 without
 * padding, 43 characters) and sends a 32-byte nonce; the client answers with a 64-byte Ed25519
 * signature of the nonce.
 *
 * MariaDB derives the key differently from RFC 8032: the 64-byte expanded secret is
 * SHA-512(password) itself, not SHA-512 of a 32-byte seed. node:crypto only signs from seeds, so
 * signing is done here with BigInt field arithmetic (a login-time cost of a few milliseconds);
 * verification uses node:crypto.
 */
export const clientEd25519Plugin = 'client_ed25519';
export const ed25519NonceBytes = 32;
export const ed25519SignatureBytes = 64;

const spkiPrefix = Buffer.from('302a300506032b6570032100', 'hex');

/** Parses the stored base64 public key (`authentication_string` of an ed25519 account). */
export function parseEd25519PublicKey(text: string): Decoded<Buffer> {
  const key = Buffer.from(text, 'base64');
  if (key.length !== 32)
    return decodedError('MALFORMED', 'an ed25519 public key is 32 bytes (43 base64 characters)');
  return decodedOk(key);
}

/** True when `signature` is the account's signature of `nonce`. */
export function verifyEd25519(signature: Uint8Array, nonce: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== ed25519SignatureBytes || publicKey.length !== 32) return false;
  const key = createPublicKey({ key: Buffer.concat([spkiPrefix, publicKey]), format: 'der', type: 'spki' });
  try {
    return verify(null, nonce, key, signature);
  } catch {
    // A non-canonical point in the signature: not a valid signature.
    return false;
  }
}

// --- Ed25519 arithmetic (RFC 8032 §5.1), extended coordinates; only for MariaDB's key derivation.

const p = 2n ** 255n - 19n;
const groupOrder = 2n ** 252n + 27742317777372353535851937790883648493n;

function mod(a: bigint, m = p): bigint {
  const r = a % m;
  return r >= 0n ? r : r + m;
}

function power(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  let e = exponent;
  while (e > 0n) {
    if ((e & 1n) === 1n) result = mod(result * b);
    b = mod(b * b);
    e >>= 1n;
  }
  return result;
}

function invert(a: bigint): bigint {
  return power(a, p - 2n);
}

const d = mod(-121665n * invert(121666n));

type Point = readonly [bigint, bigint, bigint, bigint];

function add(P: Point, Q: Point): Point {
  const [X1, Y1, Z1, T1] = P;
  const [X2, Y2, Z2, T2] = Q;
  const A = mod((Y1 - X1) * (Y2 - X2));
  const B = mod((Y1 + X1) * (Y2 + X2));
  const C = mod(2n * d * T1 * T2);
  const D = mod(2n * Z1 * Z2);
  const E = B - A;
  const F = D - C;
  const G = D + C;
  const H = B + A;
  return [mod(E * F), mod(G * H), mod(F * G), mod(E * H)];
}

function multiply(scalar: bigint, P: Point): Point {
  let result: Point = [0n, 1n, 1n, 0n];
  let addend = P;
  let s = scalar;
  while (s > 0n) {
    if ((s & 1n) === 1n) result = add(result, addend);
    addend = add(addend, addend);
    s >>= 1n;
  }
  return result;
}

const baseY = mod(4n * invert(5n));
const baseX = (() => {
  const y2 = baseY * baseY;
  const x2 = mod((y2 - 1n) * invert(d * y2 + 1n));
  let x = power(x2, (p + 3n) / 8n);
  if (mod(x * x - x2) !== 0n) x = mod(x * power(2n, (p - 1n) / 4n));
  return (x & 1n) === 0n ? x : p - x;
})();
const basePoint: Point = [baseX, baseY, 1n, mod(baseX * baseY)];

function encodePoint(P: Point): Buffer {
  const [X, Y, Z] = P;
  const zInverse = invert(Z);
  const x = mod(X * zInverse);
  const y = mod(Y * zInverse);
  const out = littleEndian(y, 32);
  out[31] = out[31]! | (Number(x & 1n) << 7);
  return out;
}

function littleEndian(value: bigint, bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  let v = value;
  for (let i = 0; i < bytes; i += 1) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function fromLittleEndian(bytes: Uint8Array): bigint {
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i -= 1) value = (value << 8n) | BigInt(bytes[i]!);
  return value;
}

function sha512(...parts: Uint8Array[]): Buffer {
  const hash = createHash('sha512');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

function secretScalar(password: string): { scalar: bigint; prefix: Buffer } {
  const expanded = sha512(Buffer.from(password, 'utf8'));
  const head = Buffer.from(expanded.subarray(0, 32));
  head[0] = head[0]! & 248;
  head[31] = (head[31]! & 127) | 64;
  return { scalar: fromLittleEndian(head), prefix: expanded.subarray(32) };
}

/** The public key MariaDB stores for `password` (what `PASSWORD('...')` of ed25519 gives, decoded). */
export function ed25519PublicKeyFromPassword(password: string): Buffer {
  return encodePoint(multiply(secretScalar(password).scalar, basePoint));
}

/** The client's answer to a client_ed25519 nonce: MariaDB's signature of `nonce` with `password`. */
export function signEd25519(password: string, nonce: Uint8Array): Buffer {
  const { scalar, prefix } = secretScalar(password);
  const publicKey = encodePoint(multiply(scalar, basePoint));
  const r = mod(fromLittleEndian(sha512(prefix, nonce)), groupOrder);
  const R = encodePoint(multiply(r, basePoint));
  const k = mod(fromLittleEndian(sha512(R, publicKey, nonce)), groupOrder);
  const S = mod(r + k * scalar, groupOrder);
  const signature = Buffer.concat([R, littleEndian(S, 32)]);
  assert(signature.length === ed25519SignatureBytes, 'an ed25519 signature is 64 bytes');
  return signature;
}
