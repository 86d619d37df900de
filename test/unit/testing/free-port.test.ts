import { describe, expect, test } from 'vitest';
import { freePort } from '../../../src/testing/free-port.js';

describe('freePort', () => {
  test('never hands out the same port twice in one process, even before anything listens on it', async () => {
    // 400 draws from about 22,000 ports: without the memory of handed-out ports, two equal draws
    // are likelier than not (birthday bound); a playground's ports are all drawn before any listen.
    const ports: number[] = [];
    for (let i = 0; i < 400; i += 1) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
  });
});
