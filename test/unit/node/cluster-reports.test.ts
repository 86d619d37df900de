import { pino } from 'pino';
import { describe, expect, test } from 'vitest';
import type { EngineStatus, FollowerProgress } from '../../../src/consensus/index.js';
import { ClusterReports, type LocalApplyState } from '../../../src/node/cluster-reports.js';
import type { NodeReport } from '../../../src/node/node-report-codec.js';
import type { ReplicatedLog } from '../../../src/node/replicated-log.js';

/** The parts of ReplicatedLog that ClusterReports uses, as plain values a test can set. */
class FakeLog {
  role: 'LEADER' | 'FOLLOWER' = 'LEADER';
  id = 'n1';
  leaderId: string | null = 'n1';
  commitIndex = 100;
  first = 1;
  progress: FollowerProgress[] = [];
  readonly sent: NodeReport[] = [];
  readonly purges: number[] = [];
  #listener: ((report: NodeReport) => void) | undefined;

  status(): EngineStatus {
    return {
      id: this.id,
      role: this.role,
      term: 2,
      leaderId: this.leaderId,
      persistedIndex: this.commitIndex,
      members: [
        { id: 'n1', neverLeader: false },
        { id: 'n2', neverLeader: false },
        { id: 'n3', neverLeader: false },
      ],
    } as unknown as EngineStatus;
  }
  followerProgress(): readonly FollowerProgress[] {
    return this.role === 'LEADER' ? this.progress : [];
  }
  firstIndex(): number {
    return this.first;
  }
  sendReport(report: NodeReport): void {
    this.sent.push(report);
  }
  onReport(listener: (report: NodeReport) => void): void {
    this.#listener = listener;
  }
  deliver(report: NodeReport): void {
    this.#listener?.(report);
  }
  purge(before: number): Promise<number> {
    this.purges.push(before);
    return Promise.resolve(before - 1);
  }
}

function setup(local: Partial<LocalApplyState> = {}) {
  const log = new FakeLog();
  const reports = new ClusterReports({
    log: log as unknown as ReplicatedLog,
    logger: pino({ level: 'silent' }),
    local: () => ({ appliedIndex: 100, applyLagMs: 0, applyFailed: false, mariadbHealthy: true, ...local }),
    heartbeatMs: 100,
    tickMs: 20,
    electionTimeoutMs: 400,
    maxApplyLagMs: 1000,
    retentionHoldTicks: 1500,
    retentionEveryMs: 0,
  });
  return { log, reports };
}

function applyReport(from: string, appliedIndex: number, applyLagMs: number): NodeReport {
  return {
    kind: 'applyReport',
    from,
    to: 'n1',
    term: 2,
    appliedIndex,
    applyLagMs,
    applyFailed: false,
    mariadbHealthy: true,
  };
}

const progress = (id: string, matchIndex: number): FollowerProgress => ({
  id,
  matchIndex,
  needsMigration: false,
  heardTicksAgo: 5,
  voter: true,
});

describe('cluster reports', () => {
  test('the leader knows each follower’s match, applied index and lag, and tells the followers', () => {
    const { log, reports } = setup();
    log.progress = [progress('n2', 100), progress('n3', 90)];
    log.deliver(applyReport('n2', 97, 12));
    log.deliver(applyReport('n3', 80, 350));
    reports.tick();
    expect(reports.view('n3')).toEqual({
      matchIndex: 90,
      appliedIndex: 80,
      applyLagEntries: 20,
      applyLagMs: 350,
      lastSeenMsAgo: 100,
    });
    const sent = log.sent.filter((r) => r.kind === 'clusterReport');
    expect(sent.map((r) => r.to).sort()).toEqual(['n2', 'n3']);
    const toN2 = sent.find((r) => r.to === 'n2');
    expect(toN2?.kind === 'clusterReport' && toN2.retentionFloor).toBe(91);
    expect(toN2?.kind === 'clusterReport' && toN2.nodes.find((n) => n.id === 'n3')).toEqual({
      id: 'n3',
      matchIndex: 90,
      appliedIndex: 80,
      applyLagMs: 350,
      heardMsAgo: 100,
    });
  });

  test('a follower reports its applying to the leader and shows what the leader told it', () => {
    const { log, reports } = setup({ appliedIndex: 95, applyLagMs: 40 });
    Object.assign(log, { role: 'FOLLOWER', id: 'n2', leaderId: 'n1' });
    reports.tick();
    expect(log.sent).toEqual([applyReport('n2', 95, 40)].map((r) => ({ ...r, from: 'n2', to: 'n1' })));
    expect(reports.view('n3').appliedIndex).toBeNull();
    log.deliver({
      kind: 'clusterReport',
      from: 'n1',
      to: 'n2',
      term: 2,
      commitIndex: 100,
      retentionFloor: 60,
      nodes: [{ id: 'n3', matchIndex: 99, appliedIndex: 70, applyLagMs: 900, heardMsAgo: 30 }],
    });
    const view = reports.view('n3');
    expect([view.matchIndex, view.appliedIndex, view.applyLagEntries, view.applyLagMs]).toEqual([
      99, 70, 30, 900,
    ]);
    expect(view.lastSeenMsAgo).toBeGreaterThanOrEqual(30);
    // Its retention keeps what the leader says a member lacks.
    reports.tick();
    expect(log.purges.at(-1)).toBe(60);
  });

  test('a report from a node that is not the leader is ignored by a follower', () => {
    const { log, reports } = setup();
    Object.assign(log, { role: 'FOLLOWER', id: 'n2', leaderId: 'n1' });
    log.deliver({
      kind: 'clusterReport',
      from: 'n3',
      to: 'n2',
      term: 2,
      commitIndex: 1,
      retentionFloor: 1,
      nodes: [{ id: 'n3', matchIndex: 1, appliedIndex: 1, applyLagMs: 1, heardMsAgo: 1 }],
    });
    expect(reports.view('n3').appliedIndex).toBeNull();
  });

  test('flow control: acknowledgements wait while a voter lags, and go again once it caught up', async () => {
    const { log, reports } = setup();
    log.progress = [progress('n2', 100), progress('n3', 100)];
    reports.tick();
    expect(reports.ackGate()).toBeUndefined();
    log.deliver(applyReport('n3', 50, 2500));
    reports.tick();
    expect(reports.throttling).toBe(true);
    let released = false;
    void reports.ackGate()?.then(() => {
      released = true;
    });
    log.deliver(applyReport('n3', 90, 700));
    reports.tick();
    await Promise.resolve();
    expect([reports.throttling, released]).toEqual([true, false]);
    log.deliver(applyReport('n3', 100, 0));
    reports.tick();
    await Promise.resolve();
    expect([reports.throttling, released]).toEqual([false, true]);
    expect(reports.ackGate()).toBeUndefined();
  });

  test('losing leadership releases held acknowledgements', async () => {
    const { log, reports } = setup();
    log.deliver(applyReport('n2', 1, 5000));
    reports.tick();
    const gate = reports.ackGate();
    expect(gate).toBeDefined();
    log.role = 'FOLLOWER';
    reports.tick();
    await expect(gate).resolves.toBeUndefined();
  });

  test('leader retention stops at the slowest live follower', () => {
    const { log, reports } = setup();
    log.progress = [progress('n2', 100), progress('n3', 42)];
    reports.tick();
    expect(log.purges).toEqual([43]);
  });
});
