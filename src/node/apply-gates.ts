/**
 * What both apply loops (`ApplyLoop`, `ReplicaApplyLoop`) share with their callers: waits for
 * the applied index, and the queue of pauses (`pauseWhile`, the rewind check).
 */

/** Waits for the applied index to reach a value. */
export class AppliedWaiters {
  readonly #waiters = new Set<{
    readonly index: number;
    readonly resolve: () => void;
    readonly reject: (error: Error) => void;
  }>();

  /** Resolves once `reached` passes `index`; rejects on `signal` or `failed`. */
  async wait(index: number, signal?: AbortSignal): Promise<void> {
    // An already aborted signal never fires 'abort': without this the wait would never end
    // (docs/RELIABILITY.md "Failures found" 12).
    if (signal?.aborted) throw new Error('aborted');
    await new Promise<void>((resolve, reject) => {
      const waiter = { index, resolve, reject };
      this.#waiters.add(waiter);
      signal?.addEventListener('abort', () => {
        this.#waiters.delete(waiter);
        reject(new Error('aborted'));
      });
    });
  }

  /** The applied index is now `applied`. */
  reached(applied: number): void {
    for (const waiter of this.#waiters) {
      if (waiter.index <= applied) {
        this.#waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  /** Applying stopped for good. */
  failed(message: string): void {
    for (const waiter of this.#waiters) waiter.reject(new Error(message));
    this.#waiters.clear();
  }
}

export interface Pause {
  /** Settles when the pause's work has run (rejects with its error). */
  readonly done: Promise<void>;
  /** The loop calls it once nothing is applying: the work starts. */
  readonly parked: () => void;
}

export interface PauseQueueHooks {
  /** Handed to every pause's work: aborted when the loop stops. */
  readonly signal: AbortSignal;
  /** A pause ended (either way) or was queued: wake the loop. */
  readonly wake: () => void;
  /** The work threw: applying stops for good with this message. */
  readonly failed: (message: string) => void;
}

/**
 * Pauses in call order; the loop parks for `current` and resumes when it settles.
 *
 * The loop parks for the *latest* pause, whose work runs after every earlier one: so parking
 * for it lets every pause queued so far start (in order), not only the latest. When only the
 * latest was told, a pause queued behind a running one and overtaken by a third never started,
 * the third waited for it, and the loop waited for the third: applying stopped for good with
 * nothing logged (chaos L1, three step-downs in 5 s; docs/RELIABILITY.md "Failures found" 14).
 */
export class PauseQueue {
  readonly #hooks: PauseQueueHooks;
  #current: Pause | undefined;
  /** Pauses queued and not yet told that the loop is parked. */
  #unparked: Array<() => void> = [];
  /** When `current` last went from none to one (Date.now()); undefined while there is none. */
  #pausedSinceMs: number | undefined;

  constructor(hooks: PauseQueueHooks) {
    this.#hooks = hooks;
  }

  /** The latest pause not settled yet. */
  get current(): Pause | undefined {
    return this.#current;
  }

  /** Since when (Date.now()) some pause has been pending without a break; undefined when none is. */
  get pausedSinceMs(): number | undefined {
    return this.#pausedSinceMs;
  }

  /**
   * Queues `work` to run once the loop parked (at once when `loopRunning` is false: nothing
   * applies yet) and after every earlier pause.
   */
  enqueue(work: (signal: AbortSignal) => Promise<void>, loopRunning: boolean): Promise<void> {
    const previous = this.#current?.done.catch(() => undefined) ?? Promise.resolve();
    const isParked = new Promise<void>((resolve) => {
      this.#unparked.push(resolve);
    });
    const parked = (): void => {
      // Only pauses queued up to now: one queued later waits for the loop to park again.
      const unparked = this.#unparked;
      this.#unparked = [];
      for (const resolve of unparked) resolve();
    };
    const done = (async () => {
      await previous;
      await isParked;
      await work(this.#hooks.signal);
    })();
    const pause = { done, parked };
    this.#pausedSinceMs ??= Date.now();
    this.#current = pause;
    const settled = (): void => {
      if (this.#current !== pause) return;
      this.#current = undefined;
      this.#pausedSinceMs = undefined;
    };
    void done.then(
      () => {
        settled();
        this.#hooks.wake();
      },
      (error: Error) => {
        settled();
        this.#hooks.failed(error.message);
        this.#hooks.wake();
      },
    );
    if (!loopRunning) parked();
    this.#hooks.wake();
    return done;
  }
}
