import { describe, expect, test } from 'vitest';
import { isDriverDestroyKillFailure } from '../../../src/mariadb/driver-destroy-guard.js';

describe('isDriverDestroyKillFailure', () => {
  test("matches only the driver's failed KILL <id> (1094)", () => {
    expect(isDriverDestroyKillFailure({ errno: 1094, sql: 'KILL 17 - parameters:[]' })).toBe(true);
    expect(isDriverDestroyKillFailure({ errno: 1094, sql: 'KILL CONNECTION 17' })).toBe(false);
    expect(isDriverDestroyKillFailure({ errno: 1045, sql: 'KILL 17' })).toBe(false);
    expect(isDriverDestroyKillFailure(new Error('KILL 17'))).toBe(false);
    expect(isDriverDestroyKillFailure(undefined)).toBe(false);
    expect(isDriverDestroyKillFailure('KILL 17')).toBe(false);
  });
});
