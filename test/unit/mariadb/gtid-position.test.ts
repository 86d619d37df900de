import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import {
  formatGtidPosition,
  type Gtid,
  parseGtidPosition,
  positionContains,
  positionWith,
} from '../../../src/mariadb/gtid-position.js';

describe('GTID positions', () => {
  test('parses what MariaDB prints, whitespace and newlines included, sorted by domain', () => {
    expect(parseGtidPosition('')).toEqual({ ok: true, value: [] });
    expect(parseGtidPosition('1-2-7,\n0-1-5')).toEqual({
      ok: true,
      value: [
        { domainId: 0, serverId: 1, sequenceNumber: 5n },
        { domainId: 1, serverId: 2, sequenceNumber: 7n },
      ],
    });
  });

  test('rejects malformed text, a domain twice and out-of-range numbers with a reason', () => {
    for (const bad of [
      '0-1',
      '0-1-x',
      '0-1-5,0-2-6',
      '4294967296-1-1',
      '0-1-18446744073709551616',
      '0-1-5,',
    ]) {
      const parsed = parseGtidPosition(bad);
      expect(parsed.ok, bad).toBe(false);
      if (!parsed.ok) expect(parsed.error.message).toContain(bad);
    }
  });

  const gtid = fc.record({
    domainId: fc.integer({ min: 0, max: 0xffff_ffff }),
    serverId: fc.integer({ min: 0, max: 0xffff_ffff }),
    sequenceNumber: fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_fffen }),
  });
  const position = fc
    .uniqueArray(gtid, { selector: (g) => g.domainId, maxLength: 5 })
    .map((gtids) => [...gtids].sort((a, b) => a.domainId - b.domainId));

  test.prop([position])('format then parse is the identity', (pos) => {
    expect(parseGtidPosition(formatGtidPosition(pos))).toEqual({ ok: true, value: pos });
  });

  test.prop([position, gtid])(
    'a position contains exactly the GTIDs at or below its domain entry',
    (pos, g: Gtid) => {
      const updated = positionWith(pos, g);
      expect(positionContains(updated, g)).toBe(true);
      expect(positionContains(updated, { ...g, sequenceNumber: g.sequenceNumber + 1n })).toBe(false);
      expect(positionContains(pos, g)).toBe(
        pos.some((p) => p.domainId === g.domainId && p.sequenceNumber >= g.sequenceNumber),
      );
    },
  );
});
