import { describe, expect, test } from 'vitest';
import { fileEvents } from '../../../src/mariadb/binlog-tail.js';
import type { SqlRunner } from '../../../src/mariadb/sql-runner.js';

/**
 * A binlog file of `count` events of 100 bytes from position 4, as SHOW BINLOG EVENTS answers it;
 * with `tornAt`, the event there cannot be read (1220), like a file cut inside an event.
 */
function binlogFile(count: number, tornAt?: number): SqlRunner & { readonly queries: string[] } {
  const queries: string[] = [];
  const row = (pos: number) => ({ Pos: pos, Event_type: 'Query', End_log_pos: pos + 100, Info: `at ${pos}` });
  const unreadable = () =>
    Object.assign(new Error('Error when executing command SHOW BINLOG EVENTS: Wrong offset or I/O error'), {
      errno: 1220,
    });
  return {
    queries,
    query: async (sql: string) => {
      queries.push(sql);
      const page = /FROM (\d+) LIMIT (\d+)$/.exec(sql);
      const from = page === null ? 4 : Number(page[1]);
      const limit = page === null ? Number.POSITIVE_INFINITY : Number(page[2]);
      const rows = [];
      for (let pos = from; pos < 4 + count * 100 && rows.length < limit; pos += 100) {
        if (pos === tornAt) throw unreadable();
        rows.push(row(pos));
      }
      return rows;
    },
  };
}

describe('reading a binlog file that may end inside an event', () => {
  test('a whole file is one query', async () => {
    const file = binlogFile(5);
    const read = await fileEvents(file, 'binlog.000001');
    expect(read.events.map((e) => e.pos)).toEqual([4, 104, 204, 304, 404]);
    expect(read.tornAt).toBeUndefined();
    expect(file.queries).toHaveLength(1);
  });

  test('a torn file is read in pages up to the event that cannot be read', async () => {
    const tornAt = 4 + 2345 * 100;
    const read = await fileEvents(binlogFile(2400, tornAt), 'binlog.000001');
    expect(read.events).toHaveLength(2345);
    expect(read.events.at(-1)?.end).toBe(tornAt);
    expect(read.tornAt).toBe(tornAt);
  });

  test('a tear in the first event leaves nothing readable; other errors are not swallowed', async () => {
    expect(await fileEvents(binlogFile(3, 4), 'binlog.000001')).toEqual({ events: [], tornAt: 4 });
    const failing: SqlRunner = {
      query: async () => {
        throw Object.assign(new Error('Access denied'), { errno: 1227 });
      },
    };
    await expect(fileEvents(failing, 'binlog.000001')).rejects.toThrow('Access denied');
  });
});
