/**
 * The chaos suite's checkers (pure): a recorded history and the converged final state in, the
 * anomalies out. See docs/RELIABILITY.md.
 *
 * Outcomes: `ok` — the client got its OK; `failed` — MariaDB answered with an error, so the
 * statement or transaction did not happen; `unknown` — the connection died or timed out
 * mid-flight, so it may or may not have happened.
 */
export type Outcome = 'ok' | 'failed' | 'unknown';

export interface Operation {
  readonly id: number;
  readonly client: number;
  readonly workload: 'set' | 'bank' | 'append';
  readonly f: 'insert' | 'transfer' | 'read' | 'append';
  /** set/append: the unique value written. */
  readonly value?: number;
  /** append: the list key; transfer: [from, to, amount]. */
  readonly key?: number;
  readonly transfer?: readonly [number, number, number];
  /** Milliseconds since the run started. */
  readonly start: number;
  end: number;
  outcome: Outcome;
  error?: string;
  /** bank read: the sum of all balances; append (read or append's own read): the list. */
  total?: number;
  list?: number[];
  /** The node whose proxy the client talked to. */
  via?: string;
  /** The client's connection (proxy session) the operation ran on: a new number per connection. */
  session?: number;
  /** Reads (and an append's own read): the node whose MariaDB served it (from `@@server_id`). */
  node?: string;
}

export interface Fault {
  readonly kind: string;
  readonly target: string;
  readonly start: number;
  end: number;
}

export interface FinalState {
  /** Per node: the set table's values. */
  readonly sets: ReadonlyArray<readonly number[]>;
  /** Per node: the bank's total. */
  readonly bankTotals: readonly number[];
  /** Per node: key → list. */
  readonly lists: ReadonlyArray<Readonly<Record<string, readonly number[]>>>;
  /** Per node: CHECKSUM TABLE of every chaos table, as text. */
  readonly checksums: readonly string[];
  /** Per node: @@gtid_binlog_pos. */
  readonly gtidPositions: readonly string[];
  /** Per node: /status status ('ACTIVE', …) or 'DOWN'. */
  readonly statuses: readonly string[];
  /**
   * Node processes that exited during the run without the nemesis killing them (a crash of
   * WolfScale itself: "never crash the node"), each with when and how; the runner restarts them.
   */
  readonly crashes?: readonly string[];
}

export interface CheckResult {
  readonly valid: boolean;
  readonly counts: {
    readonly operations: number;
    readonly ok: number;
    readonly failed: number;
    readonly unknown: number;
    readonly byWorkload: Record<string, { ok: number; failed: number; unknown: number }>;
  };
  /** Acknowledged writes (set inserts, appends) missing from the final state. */
  readonly lost: readonly string[];
  /** Values present that no client attempted, or that a client saw fail. */
  readonly unexpected: readonly string[];
  readonly bank: readonly string[];
  readonly append: readonly string[];
  readonly divergence: readonly string[];
  /** Node processes that exited on their own (see `FinalState.crashes`). */
  readonly crashes: readonly string[];
  /** The node (1-based) whose final tables the writes were checked against (`referenceNode`). */
  readonly reference: number;
  readonly unavailability: ReadonlyArray<{ fault: string; start: number; ms: number | null }>;
}

/** The index of the node whose final state the most nodes share (the first such on a tie). */
export function referenceNode(final: FinalState): number {
  const key = (i: number): string => `${final.checksums[i]}|${final.gtidPositions[i]}`;
  let best = 0;
  let bestCount = -1;
  for (let i = 0; i < final.checksums.length; i++) {
    const count = final.checksums.filter((_, j) => key(j) === key(i)).length;
    if (count > bestCount) {
      best = i;
      bestCount = count;
    }
  }
  return best;
}

export function check(
  history: readonly Operation[],
  faults: readonly Fault[],
  final: FinalState,
  bankTotal: number,
): CheckResult {
  const lost: string[] = [];
  const unexpected: string[] = [];
  const bank: string[] = [];
  const append: string[] = [];
  const divergence: string[] = [];

  // Convergence: every node the same, and ACTIVE.
  const same = (values: readonly string[], what: string): void => {
    if (values.some((value) => value !== values[0])) divergence.push(`${what} differ: ${values.join(' | ')}`);
  };
  same(final.checksums, 'CHECKSUM TABLE results');
  same(final.gtidPositions, '@@gtid_binlog_pos');
  same(
    final.sets.map((set) => set.join(',')),
    'set contents',
  );
  final.statuses.forEach((status, i) => {
    if (status !== 'ACTIVE') divergence.push(`node ${i + 1} is ${status}, not ACTIVE`);
  });

  // set: every acknowledged insert present; nothing present that was not attempted or failed.
  // The reference state: the node most others agree with (checksums and position), not simply
  // node 1 — a node stuck behind made every write it never applied look lost (chaos L2 of
  // 2026-12-04). Any node that differs is reported as divergence above.
  const reference = referenceNode(final);
  const finalSet = new Set(final.sets[reference] ?? []);
  const inserts = history.filter((op) => op.f === 'insert');
  const attempted = new Map(inserts.map((op) => [op.value as number, op]));
  for (const op of inserts) {
    if (op.outcome === 'ok' && !finalSet.has(op.value as number))
      lost.push(`set insert ${op.value} (op ${op.id})`);
  }
  for (const value of finalSet) {
    const op = attempted.get(value);
    if (op === undefined) unexpected.push(`set value ${value} was never attempted`);
    else if (op.outcome === 'failed')
      unexpected.push(`set value ${value} is present though its insert failed (op ${op.id}: ${op.error})`);
  }

  // bank: every read (served by any node), and every node at the end, sums to the total.
  for (const op of history) {
    if (op.f === 'read' && op.workload === 'bank' && op.outcome === 'ok' && op.total !== bankTotal) {
      bank.push(`read op ${op.id} at ${op.start} ms saw a total of ${op.total}, not ${bankTotal}`);
    }
  }
  final.bankTotals.forEach((total, i) => {
    if (total !== bankTotal) bank.push(`node ${i + 1} ends with a total of ${total}, not ${bankTotal}`);
  });

  // append: lists have no duplicates; acknowledged appends present; present values attempted
  // and not failed; every read is a prefix of the final list; reads in real-time order never
  // go backwards.
  const finalLists = final.lists[reference] ?? {};
  const appends = history.filter((op) => op.f === 'append');
  const appendOps = new Map(appends.map((op) => [op.value as number, op]));
  for (const [key, list] of Object.entries(finalLists)) {
    if (new Set(list).size !== list.length) append.push(`list ${key} holds a duplicate: ${list.join(',')}`);
    for (const value of list) {
      const op = appendOps.get(value);
      if (op === undefined || op.key !== Number(key))
        append.push(`list ${key} holds ${value}, never appended to it`);
      else if (op.outcome === 'failed')
        append.push(`list ${key} holds ${value} though its append failed (op ${op.id})`);
    }
  }
  for (const op of appends) {
    if (op.outcome === 'ok' && !(finalLists[String(op.key)] ?? []).includes(op.value as number)) {
      lost.push(`append ${op.value} to list ${op.key} (op ${op.id})`);
    }
  }
  const reads = history.filter(
    (op) => op.workload === 'append' && op.outcome === 'ok' && op.list !== undefined,
  );
  for (const op of reads) {
    const full = finalLists[String(op.key)] ?? [];
    const list = op.list as number[];
    const at = list.findIndex((value, i) => full[i] !== value);
    if (at >= 0) {
      // Show where they part, not the whole lists (hundreds of values).
      const around = (values: readonly number[]): string =>
        `${at > 3 ? '…,' : ''}${values.slice(Math.max(0, at - 3), at + 3).join(',')}${values.length > at + 3 ? ',…' : ''}`;
      append.push(
        `op ${op.id} (${op.f} on ${op.node ?? '?'}, ${op.start}–${op.end} ms) read list ${op.key} as [${around(list)}] (${list.length} values), not a prefix of the final [${around(full)}] (${full.length}): they differ at position ${at}`,
      );
    }
  }
  // Reads never go backwards: a node's MariaDB only ever holds a growing prefix of the committed
  // history (what it applied, or committed as leader), so any two reads served by the same node,
  // one ending before the other starts, see lists in that order. (Reads across nodes are not
  // ordered: a follower serves reads up to proxy.max_lag_ms behind, by design.)
  const byNodeAndKey = new Map<string, Operation[]>();
  for (const op of reads) {
    if (op.node === undefined) continue;
    const group = `${op.node}/${op.key}`;
    byNodeAndKey.set(group, [...(byNodeAndKey.get(group) ?? []), op]);
  }
  for (const ops of byNodeAndKey.values()) {
    const byEnd = [...ops].sort((a, b) => a.end - b.end);
    let longest: Operation | undefined;
    let next = 0;
    for (const op of [...ops].sort((a, b) => a.start - b.start)) {
      // the longest list read by an operation that ended before this one started
      for (; next < byEnd.length && (byEnd[next] as Operation).end < op.start; next++) {
        const earlier = byEnd[next] as Operation;
        if (longest === undefined || (earlier.list?.length ?? 0) > (longest.list?.length ?? 0))
          longest = earlier;
      }
      if (longest !== undefined && (op.list?.length ?? 0) < (longest.list?.length ?? 0)) {
        append.push(
          `list ${op.key} went backwards on ${op.node}: op ${op.id} (start ${op.start} ms) read ${op.list?.length} values after op ${longest.id} (end ${longest.end} ms) read ${longest.list?.length}`,
        );
      }
    }
  }
  // Read your writes (what the proxy promises a session): a read sees every append its own
  // session had acknowledged before it started.
  const acknowledgedBySession = new Map<number, Operation[]>();
  for (const op of appends) {
    if (op.outcome !== 'ok' || op.session === undefined) continue;
    acknowledgedBySession.set(op.session, [...(acknowledgedBySession.get(op.session) ?? []), op]);
  }
  for (const op of reads) {
    if (op.session === undefined) continue;
    for (const write of acknowledgedBySession.get(op.session) ?? []) {
      if (write.key !== op.key || write.end >= op.start) continue;
      if (!(op.list ?? []).includes(write.value as number)) {
        append.push(
          `op ${op.id} (${op.f} on ${op.node ?? '?'}, session ${op.session}) read list ${op.key} without ${write.value}, which its own session appended with an OK before (op ${write.id})`,
        );
      }
    }
  }

  // Unavailability: from each fault to the first acknowledged write that started after it.
  const writes = history.filter((op) => op.outcome === 'ok' && op.f !== 'read').sort((a, b) => a.end - b.end);
  const unavailability = faults.map((fault) => {
    const first = writes.find((op) => op.start >= fault.start);
    return {
      fault: `${fault.kind} ${fault.target}`,
      start: fault.start,
      ms: first === undefined ? null : first.end - fault.start,
    };
  });

  const byWorkload: Record<string, { ok: number; failed: number; unknown: number }> = {};
  for (const op of history) {
    const name = `${op.workload}/${op.f}`;
    const entry = byWorkload[name] ?? { ok: 0, failed: 0, unknown: 0 };
    entry[op.outcome]++;
    byWorkload[name] = entry;
  }
  return {
    valid:
      lost.length === 0 &&
      unexpected.length === 0 &&
      bank.length === 0 &&
      append.length === 0 &&
      divergence.length === 0 &&
      (final.crashes ?? []).length === 0,
    counts: {
      operations: history.length,
      ok: history.filter((op) => op.outcome === 'ok').length,
      failed: history.filter((op) => op.outcome === 'failed').length,
      unknown: history.filter((op) => op.outcome === 'unknown').length,
      byWorkload,
    },
    lost,
    unexpected,
    bank,
    append,
    divergence,
    crashes: final.crashes ?? [],
    reference: reference + 1,
    unavailability,
  };
}

/** A readable summary of one run. */
export function summarise(result: CheckResult, faults: readonly Fault[], header: string): string {
  const c = result.counts;
  const windows = result.unavailability.map(
    (u) =>
      `  ${String(u.start).padStart(7)} ms  ${u.fault.padEnd(34)} ${u.ms === null ? 'no write after it' : `${u.ms} ms`}`,
  );
  const list = (title: string, items: readonly string[]): string[] =>
    items.length === 0
      ? []
      : [`${title} (${items.length}):`, ...items.slice(0, 20).map((item) => `  ${item}`)];
  return [
    header,
    `result: ${result.valid ? 'VALID' : 'INVALID'}`,
    `operations ${c.operations}: acknowledged ${c.ok}, failed ${c.failed}, unknown ${c.unknown}`,
    ...Object.entries(c.byWorkload).map(
      ([k, v]) => `  ${k.padEnd(16)} ok ${v.ok}, failed ${v.failed}, unknown ${v.unknown}`,
    ),
    `lost acknowledged writes: ${result.lost.length} (checked against node-${result.reference}'s final tables)`,
    `node crashes: ${result.crashes.length}`,
    `faults: ${faults.length}`,
    'unavailability (fault → first acknowledged write after it):',
    ...windows,
    ...list('LOST', result.lost),
    ...list('UNEXPECTED', result.unexpected),
    ...list('BANK', result.bank),
    ...list('APPEND', result.append),
    ...list('DIVERGENCE', result.divergence),
    ...list('CRASHES', result.crashes),
  ].join('\n');
}
