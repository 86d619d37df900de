import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { EntryKind, LogEntry } from '../../../src/wal/entry.js';

/** A fresh directory under the OS temp dir; remove it with removeDir. */
export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'wolfscale-wal-'));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Deterministic generator (mulberry32) so a failing case is reproducible. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const COLUMNS = ['id', 'customer_id', 'status', 'amount', 'created_at', 'note'];

/**
 * Bytes shaped like a captured row-based transaction: a GTID, then row images that repeat column
 * names and similar values (so LZ4 finds some redundancy) mixed with random tokens.
 */
export function binlogLikePayload(bytes: number, random: () => number): Uint8Array {
  const parts: string[] = [`GTID 0-1-${Math.floor(random() * 1e9)};`];
  let length = parts[0]!.length;
  while (length < bytes) {
    const column = COLUMNS[Math.floor(random() * COLUMNS.length)]!;
    const token = Math.floor(random() * 0xffffffff).toString(36);
    const part = `${column}=${token},${column}_old=${token.slice(0, 3)}|`;
    parts.push(part);
    length += part.length;
  }
  const payload = Buffer.from(parts.join(''), 'latin1').subarray(0, bytes);
  // A few raw binary bytes as in real row events.
  for (let i = 0; i < payload.length; i += 61) payload[i] = Math.floor(random() * 256);
  return new Uint8Array(payload);
}

export function makeEntries(
  fromIndex: number,
  count: number,
  options: { term?: number; bytes?: number; seed?: number; kind?: EntryKind } = {},
): LogEntry[] {
  const random = seededRandom(options.seed ?? fromIndex);
  return Array.from({ length: count }, (_, i) => ({
    index: fromIndex + i,
    term: options.term ?? 1,
    kind: options.kind ?? 'transaction',
    payload: binlogLikePayload(options.bytes ?? 200, random),
  }));
}

/** Throws unless `actual` holds exactly `expected`, entry by entry, payload bytes included. */
export function expectSameEntries(actual: readonly LogEntry[], expected: readonly LogEntry[]): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((entry, i) => {
    const want = expected[i]!;
    expect({ index: entry.index, term: entry.term, kind: entry.kind }).toEqual({
      index: want.index,
      term: want.term,
      kind: want.kind,
    });
    expect(Buffer.compare(entry.payload, want.payload)).toBe(0);
  });
}
