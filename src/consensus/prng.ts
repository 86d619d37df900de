/**
 * A small seeded pseudo-random generator (splitmix32). The engine takes one to add jitter after a
 * failed election round; the simulator uses it for every random choice. Same seed, same sequence,
 * on every platform: only 32-bit integer arithmetic.
 */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  nextUint32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** An integer in [0, bound), bound ≥ 1. */
  below(bound: number): number {
    return Math.floor((this.nextUint32() / 0x1_0000_0000) * bound);
  }

  /** An integer in [min, max], both inclusive. */
  between(min: number, max: number): number {
    return min + this.below(max - min + 1);
  }

  /** True with the given probability in [0, 1]. */
  chance(probability: number): boolean {
    return this.nextUint32() / 0x1_0000_0000 < probability;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.below(items.length)];
    if (item === undefined) throw new RangeError('pick from an empty list');
    return item;
  }

  /** A new generator whose sequence is independent of this one's future draws. */
  fork(): Prng {
    return new Prng(this.nextUint32());
  }
}
