import { describe, expect, test } from 'vitest';
import type { SqlRunner } from '../../../src/mariadb/sql-runner.js';
import { waitNoCommitInFlight } from '../../../src/node/rewind.js';

/** The local MariaDB as the rewind check sees it, one answer per query; the last one repeats. */
function scripted(states: ReadonlyArray<{ readonly readOnly: 0 | 1; readonly waiting: number }>): {
  readonly sql: SqlRunner;
  readonly asked: () => number;
} {
  let asked = 0;
  return {
    sql: {
      query: async (sql: string) => {
        expect(sql).toContain('@@GLOBAL.read_only');
        const state = states[Math.min(asked, states.length - 1)]!;
        asked++;
        // As the mariadb driver returns them: a system variable as a number, COUNT(*) as a bigint.
        return [{ ro: state.readOnly, n: BigInt(state.waiting) }];
      },
    },
    asked: () => asked,
  };
}

const fast = { steppedDown: () => true, roundMs: 1 };

describe('the rewind check waits until no commit can be in flight before it reads the binlog tail', () => {
  // Regression (docs/RELIABILITY.md failure 3, chaos seed 1): with no session waiting for an
  // acknowledgement but read_only=ON still pending, a commit queued behind the step-down's
  // read_only attempt reached the binlog after the tail was read: a row stayed whose GTID vanished.
  test('no session waits for an ACK, but read_only is not ON yet: it keeps waiting', async () => {
    const server = scripted([
      { readOnly: 0, waiting: 0 },
      { readOnly: 0, waiting: 0 },
      { readOnly: 0, waiting: 0 },
      { readOnly: 1, waiting: 0 },
      { readOnly: 1, waiting: 0 },
    ]);
    await waitNoCommitInFlight({ sql: server.sql, signal: new AbortController().signal, ...fast });
    expect(server.asked()).toBe(5);
  });

  test('read_only is ON but a straggler waits for its ACK: two quiet rounds after it are needed', async () => {
    const server = scripted([
      { readOnly: 1, waiting: 0 },
      { readOnly: 1, waiting: 1 },
      { readOnly: 1, waiting: 0 },
      { readOnly: 1, waiting: 0 },
    ]);
    await waitNoCommitInFlight({ sql: server.sql, signal: new AbortController().signal, ...fast });
    expect(server.asked()).toBe(4);
  });

  test('it asks nothing until the step-down is done, and stops when aborted', async () => {
    const server = scripted([{ readOnly: 1, waiting: 0 }]);
    const controller = new AbortController();
    let steppedDown = false;
    const waiting = waitNoCommitInFlight({
      sql: server.sql,
      signal: controller.signal,
      steppedDown: () => steppedDown,
      roundMs: 1,
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(server.asked()).toBe(0);
    steppedDown = true;
    await waiting;
    expect(server.asked()).toBe(2);

    controller.abort();
    await expect(
      waitNoCommitInFlight({
        sql: scripted([{ readOnly: 0, waiting: 0 }]).sql,
        signal: controller.signal,
        ...fast,
      }),
    ).rejects.toThrow('stopped');
  });
});
