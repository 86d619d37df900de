/**
 * Invariant checks that stay on in production: a broken invariant in consensus code means the
 * node's state can no longer be trusted, and a crash followed by a restart from durable state is
 * safer than carrying on with it.
 */
export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}

/** Ends an exhaustive `switch`: the compiler proves it unreachable, the runtime guards it anyway. */
export function unreachable(value: never): never {
  throw new InvariantError(`unreachable: ${JSON.stringify(value)}`);
}
