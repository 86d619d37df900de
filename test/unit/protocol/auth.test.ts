import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { clientAuthResponse } from '../../../src/protocol/auth/auth-response.js';
import {
  ed25519PublicKeyFromPassword,
  parseEd25519PublicKey,
  signEd25519,
  verifyEd25519,
} from '../../../src/protocol/auth/client-ed25519.js';
import {
  nativePasswordStage1,
  nativePasswordStage2,
  nativePasswordToken,
  nativePasswordTokenFromStage1,
  parseNativePasswordHash,
  verifyNativePassword,
} from '../../../src/protocol/auth/mysql-native-password.js';

const scramble = Buffer.from('0123456789abcdefghij');

describe('mysql_native_password', () => {
  test('the stored hash is SHA1(SHA1(password)), as MariaDB shows it', () => {
    // SELECT PASSWORD('secret') on MariaDB gives *14E65567ABDB5135D0CFD9A70B3032C179A49EE7.
    const stage2 = nativePasswordStage2(nativePasswordStage1('secret'));
    expect(`*${stage2.toString('hex').toUpperCase()}`).toBe('*14E65567ABDB5135D0CFD9A70B3032C179A49EE7');
    const parsed = parseNativePasswordHash('*14E65567ABDB5135D0CFD9A70B3032C179A49EE7');
    expect(parsed.ok && parsed.value?.equals(stage2)).toBe(true);
    expect(parseNativePasswordHash('nope').ok).toBe(false);
  });

  test('a right token verifies and yields SHA1(password); a wrong one does not', () => {
    const stage2 = nativePasswordStage2(nativePasswordStage1('secret'));
    const verified = verifyNativePassword(nativePasswordToken('secret', scramble), scramble, stage2);
    expect(verified.ok && verified.stage1?.equals(createHash('sha1').update('secret').digest())).toBe(true);
    expect(verifyNativePassword(nativePasswordToken('wrong', scramble), scramble, stage2).ok).toBe(false);
    expect(verifyNativePassword(Buffer.alloc(3), scramble, stage2).ok).toBe(false);
  });

  test('the recovered stage1 logs in to another server with another scramble', () => {
    const stage2 = nativePasswordStage2(nativePasswordStage1('secret'));
    const verified = verifyNativePassword(nativePasswordToken('secret', scramble), scramble, stage2);
    if (!verified.ok || verified.stage1 === undefined) throw new Error('not verified');
    const otherScramble = Buffer.from('ABCDEFGHIJKLMNOPQRST');
    const token = nativePasswordTokenFromStage1(verified.stage1, otherScramble);
    expect(token.equals(nativePasswordToken('secret', otherScramble))).toBe(true);
  });

  test('an empty password sends an empty token; a passwordless account accepts only that', () => {
    expect(nativePasswordToken('', scramble)).toHaveLength(0);
    expect(verifyNativePassword(Buffer.alloc(0), scramble, undefined)).toEqual({
      ok: true,
      stage1: undefined,
    });
    expect(verifyNativePassword(Buffer.alloc(20), scramble, undefined).ok).toBe(false);
  });
});

describe('client_ed25519', () => {
  const nonce = Buffer.from('n'.repeat(32));

  test('a signature made from the password verifies with node:crypto against the derived public key', () => {
    const publicKey = ed25519PublicKeyFromPassword('secret');
    const signature = signEd25519('secret', nonce);
    expect(signature).toHaveLength(64);
    expect(verifyEd25519(signature, nonce, publicKey)).toBe(true);
    expect(verifyEd25519(signEd25519('wrong', nonce), nonce, publicKey)).toBe(false);
    expect(verifyEd25519(signature, Buffer.from('x'.repeat(32)), publicKey)).toBe(false);
    expect(verifyEd25519(Buffer.alloc(64, 0xff), nonce, publicKey)).toBe(false);
  });

  test('the stored key parses from base64 without padding', () => {
    const publicKey = ed25519PublicKeyFromPassword('secret');
    const text = publicKey.toString('base64').replace(/=+$/, '');
    expect(text).toHaveLength(43);
    const parsed = parseEd25519PublicKey(text);
    expect(parsed.ok && parsed.value.equals(publicKey)).toBe(true);
    expect(parseEd25519PublicKey('abc').ok).toBe(false);
  });
});

describe('plugin choice', () => {
  test('caching_sha2_password is recognised and refused with what to do', () => {
    const answer = clientAuthResponse('caching_sha2_password', scramble, { user: 'app', password: 'x' });
    expect(answer.ok).toBe(false);
    expect(!answer.ok && answer.error.message).toMatch(/caching_sha2_password.*ALTER USER 'app'/);
    expect(clientAuthResponse('dialog', scramble, { user: 'app', password: 'x' }).ok).toBe(false);
  });
});
