import pino from 'pino';
import { describe, expect, test } from 'vitest';
import { PauseQueue } from '../../../src/node/apply-gates.js';
import { ApplyLoop } from '../../../src/node/apply-loop.js';
import type { ReplicatedLog } from '../../../src/node/replicated-log.js';

const logger = pino({ level: 'silent' });

/** Settles with `true` when `promise` settles within `ms`, `false` otherwise. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** An empty committed log: the loop has nothing to apply, so it never opens an applier. */
function emptyLog(): ReplicatedLog {
  return {
    firstIndex: () => 1,
    commitIndex: 0,
    onCommit: () => undefined,
    read: async () => [],
  } as unknown as ReplicatedLog;
}

function deferred(): { readonly promise: Promise<void>; readonly resolve: () => void } {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * Found by the chaos suite (docs/RELIABILITY.md "Failures found" 14): three leaderships ended
 * within 5 s, so three rewind checks were queued while the first ran (it waited for the first
 * step-down). The loop then parked for the latest, which waited for the second, which waited to be
 * told the loop was parked: applying never resumed, with nothing logged.
 */
describe('pauses queued behind a running pause', () => {
  test('all run, in call order, and the apply loop resumes', async () => {
    const loop = new ApplyLoop({
      log: emptyLog(),
      target: { host: '127.0.0.1', port: 1, user: 'nobody', password: '' },
      logger,
      isOwnTerm: () => false,
    });
    loop.start();
    const ran: string[] = [];
    const firstStarted = deferred();
    const releaseFirst = deferred();
    const first = loop.pauseWhile(async () => {
      ran.push('first');
      firstStarted.resolve();
      await releaseFirst.promise;
    });
    expect(await settlesWithin(firstStarted.promise, 5000)).toBe(true);
    expect(loop.status().kind).toBe('paused');
    const second = loop.pauseWhile(async () => {
      ran.push('second');
    });
    const third = loop.pauseWhile(async () => {
      ran.push('third');
    });
    releaseFirst.resolve();
    const all = Promise.all([first, second, third]);
    expect(await settlesWithin(all, 5000)).toBe(true);
    expect(ran).toEqual(['first', 'second', 'third']);
    expect(loop.status().kind).toBe('running');
    // And a pause queued afterwards still waits for the loop to park again, then runs.
    const fourth = loop.pauseWhile(async () => {
      ran.push('fourth');
    });
    expect(await settlesWithin(fourth, 5000)).toBe(true);
    expect(ran.at(-1)).toBe('fourth');
    await loop.stop();
  });

  test('a pause queued after the loop parked does not start before the loop parks for it', async () => {
    const queue = new PauseQueue({
      signal: new AbortController().signal,
      wake: () => undefined,
      failed: () => undefined,
    });
    const ran: string[] = [];
    const releaseFirst = deferred();
    const first = queue.enqueue(async () => {
      ran.push('first');
      await releaseFirst.promise;
    }, true);
    const firstPause = queue.current;
    firstPause?.parked();
    await new Promise((resolve) => setImmediate(resolve));
    const second = queue.enqueue(async () => {
      ran.push('second');
    }, true);
    releaseFirst.resolve();
    await first;
    // The loop has not parked for `second` yet (it is applying again): it must not run.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ran).toEqual(['first']);
    queue.current?.parked();
    await second;
    expect(ran).toEqual(['first', 'second']);
  });
});
