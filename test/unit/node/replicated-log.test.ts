import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { type Peer, ReplicatedLog } from '../../../src/node/replicated-log.js';
import { freePort } from '../../../src/testing/free-port.js';
import { waitFor } from '../../support/wait-for.js';

const ids = ['node-1', 'node-2', 'node-3'];
let root = '';
let ports: number[] = [];
const open: ReplicatedLog[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'wolfscale-rlog-'));
  ports = [await freePort(), await freePort(), await freePort()];
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((log) => log.close()));
  await rm(root, { recursive: true, force: true });
});

async function start(index: number): Promise<ReplicatedLog> {
  const id = ids[index] as string;
  const peers: Peer[] = ids
    .map((peerId, i) => ({ id: peerId, address: `127.0.0.1:${ports[i]}` }))
    .filter((peer) => peer.id !== id);
  const log = await ReplicatedLog.open({
    nodeId: id,
    dataDir: join(root, id),
    peers,
    neverLeader: false,
    tickMs: 20,
    healthy: true,
    logger: pino({ level: 'silent' }),
    transport: {
      clusterName: 'test',
      secret: 'a-secret-of-sixteen+',
      listenHost: '127.0.0.1',
      listenPort: ports[index] as number,
      reconnectDelayMsMin: 10,
      reconnectDelayMsMax: 100,
    },
  });
  open.push(log);
  return log;
}

async function stop(log: ReplicatedLog): Promise<void> {
  open.splice(open.indexOf(log), 1);
  await log.close();
}

const payload = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

async function transactions(log: ReplicatedLog): Promise<string[]> {
  const entries = await log.read(1, log.commitIndex, 64 * 1024 * 1024);
  return entries.filter((entry) => entry.kind === 'transaction').map((entry) => text(entry.payload));
}

function leaderOf(logs: readonly ReplicatedLog[]): string | undefined {
  const leaders = logs.filter((log) => log.status().role === 'LEADER');
  return leaders.length === 1 ? leaders[0]?.nodeId : undefined;
}

describe('replicated log over real sockets and disks', () => {
  test('the lowest id leads; a proposal resolves only once a quorum holds it; followers refuse', async () => {
    const logs = await Promise.all([start(0), start(1), start(2)]);
    await waitFor('node-1 to lead', () => leaderOf(logs) === 'node-1', { timeoutMs: 10_000 });
    const [leader, follower] = logs;
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, (_, i) => leader.propose(payload(`tx-${i}`))),
    );
    expect(outcomes.every((outcome) => outcome.ok)).toBe(true);
    const indexes = outcomes.map((outcome) => (outcome.ok ? outcome.logId.index : 0));
    expect(new Set(indexes).size).toBe(50);

    const refused = await follower.propose(payload('not here'));
    expect(refused).toEqual({ ok: false, reason: 'NOT_LEADER', leaderId: 'node-1' });

    const expected = Array.from({ length: 50 }, (_, i) => `tx-${i}`);
    for (const log of logs) {
      await waitFor(`${log.nodeId} to commit everything`, () => log.commitIndex >= Math.max(...indexes));
      expect((await transactions(log)).sort()).toEqual([...expected].sort());
    }
    // Every node holds the same entries in the same order.
    const orders = await Promise.all(logs.map(transactions));
    expect(orders[1]).toEqual(orders[0]);
    expect(orders[2]).toEqual(orders[0]);
  });

  test('committed entries of the recent window are read from memory, within bytesMax (a restarted node reads the WAL: next test)', async () => {
    const logs = await Promise.all([start(0), start(1), start(2)]);
    await waitFor('node-1 to lead', () => leaderOf(logs) === 'node-1', { timeoutMs: 10_000 });
    const outcomes = await Promise.all(
      Array.from({ length: 5 }, (_, i) => (logs[0] as ReplicatedLog).propose(payload(`tx-${i}`))),
    );
    const last = Math.max(...outcomes.map((outcome) => (outcome.ok ? outcome.logId.index : 0)));
    for (const log of logs) await waitFor(`${log.nodeId} to commit`, () => log.commitIndex >= last);
    // With its segment files gone, a node can only answer from memory.
    for (const log of logs) {
      const walDir = join(root, log.nodeId, 'wal');
      for (const name of await readdir(walDir)) await rm(join(walDir, name));
      expect((await transactions(log)).sort()).toEqual(['tx-0', 'tx-1', 'tx-2', 'tx-3', 'tx-4']);
      const first = await log.read(1, last, 1);
      expect(first.map((entry) => entry.index)).toEqual([1]);
    }
  });

  test('a lost leader is replaced by the next id; back and caught up, the lowest id leads again', async () => {
    const logs = await Promise.all([start(0), start(1), start(2)]);
    await waitFor('node-1 to lead', () => leaderOf(logs) === 'node-1', { timeoutMs: 10_000 });
    const first = await (logs[0] as ReplicatedLog).propose(payload('before'));
    expect(first.ok).toBe(true);

    await stop(logs[0] as ReplicatedLog);
    const survivors = [logs[1], logs[2]] as ReplicatedLog[];
    await waitFor('node-2 to lead', () => leaderOf(survivors) === 'node-2', { timeoutMs: 10_000 });
    const during = await (survivors[0] as ReplicatedLog).propose(payload('during'));
    expect(during.ok).toBe(true);

    const returned = await start(0);
    const all = [returned, ...survivors];
    await waitFor('node-1 to lead again (failback)', () => leaderOf(all) === 'node-1', { timeoutMs: 15_000 });
    const after = await returned.propose(payload('after'));
    expect(after.ok).toBe(true);
    for (const log of all) {
      await waitFor(
        `${log.nodeId} to commit "after"`,
        () => after.ok && log.commitIndex >= after.logId.index,
      );
      expect(await transactions(log)).toEqual(['before', 'during', 'after']);
    }
  });
});
