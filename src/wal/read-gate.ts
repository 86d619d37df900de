/**
 * Readers share the segment files; truncation and purge change them, so they run alone. Writer
 * preferring: once an exclusive section is waiting, new readers queue behind it, so a stream of
 * reads cannot starve a truncation. Also bounds concurrent readers (and so read file handles).
 */
export class ReadGate {
  readonly #readersMax: number;
  #readers = 0;
  #exclusive = false;
  #exclusiveWaiters: (() => void)[] = [];
  #readerWaiters: (() => void)[] = [];

  constructor(readersMax: number) {
    this.#readersMax = readersMax;
  }

  async read<T>(work: () => Promise<T>): Promise<T> {
    if (this.#exclusive || this.#exclusiveWaiters.length > 0 || this.#readers >= this.#readersMax) {
      // Woken with the slot already granted (see #wake).
      await new Promise<void>((resolve) => this.#readerWaiters.push(resolve));
    } else {
      this.#readers += 1;
    }
    try {
      return await work();
    } finally {
      this.#readers -= 1;
      this.#wake();
    }
  }

  async exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (this.#exclusive || this.#readers > 0) {
      await new Promise<void>((resolve) => this.#exclusiveWaiters.push(resolve));
    } else {
      this.#exclusive = true;
    }
    try {
      return await work();
    } finally {
      this.#exclusive = false;
      this.#wake();
    }
  }

  /** Grants the gate to the next waiter(s) before they run, so nobody slips in between. */
  #wake(): void {
    if (this.#exclusive) return;
    if (this.#exclusiveWaiters.length > 0) {
      if (this.#readers === 0) {
        this.#exclusive = true;
        this.#exclusiveWaiters.shift()!();
      }
      return;
    }
    while (this.#readerWaiters.length > 0 && this.#readers < this.#readersMax) {
      this.#readers += 1;
      this.#readerWaiters.shift()!();
    }
  }
}
