import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, test } from 'vitest';
import { Transport, type TransportOptions, type TransportTls } from '../../../src/transport/transport.js';
import { writeSelfSignedCertificate } from '../../support/self-signed.js';
import { waitFor } from '../../support/wait-for.js';

/** A pino logger whose lines the test can read. */
function capturingLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

const secret = 'correct-horse-battery-staple';
const started: Transport[] = [];

async function startNode(
  nodeId: string,
  overrides: Partial<TransportOptions> = {},
): Promise<{ transport: Transport; lines: Array<Record<string, unknown>>; inbox: Array<[string, string]> }> {
  const { logger, lines } = capturingLogger();
  const transport = await Transport.start({
    nodeId,
    clusterName: 'test',
    secret,
    listenHost: '127.0.0.1',
    listenPort: 0,
    peers: [],
    logger,
    reconnectDelayMsMin: 20,
    reconnectDelayMsMax: 200,
    ...overrides,
  });
  started.push(transport);
  const inbox: Array<[string, string]> = [];
  transport.onMessage((from, payload) => inbox.push([from, Buffer.from(payload).toString()]));
  return { transport, lines, inbox };
}

/** node-1 (`aOptions`) dialed node-2 and was connected; node-2 then stopped. Returns node-2's port. */
async function connectedThenPeerGone(
  aOptions: Partial<TransportOptions> = {},
): Promise<{ a: Awaited<ReturnType<typeof startNode>>; port: number }> {
  const a = await startNode('node-1', aOptions);
  const b = await startNode('node-2');
  const port = b.transport.port;
  a.transport.addPeer(`127.0.0.1:${port}`);
  await waitFor('connected', () => a.transport.connectedPeers().includes('node-2'));
  await b.transport.close();
  await waitFor('disconnected', () => a.transport.connectedPeers().length === 0);
  return { a, port };
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((transport) => transport.close()));
});

describe('cluster transport', () => {
  test('nodes that share name and secret authenticate and exchange messages in order', async () => {
    const a = await startNode('node-1');
    const b = await startNode('node-2');
    a.transport.addPeer(`node-2@127.0.0.1:${b.transport.port}`);
    b.transport.addPeer(`127.0.0.1:${a.transport.port}`);
    await waitFor(
      'both directions connected',
      () =>
        a.transport.connectedPeers().includes('node-2') && b.transport.connectedPeers().includes('node-1'),
    );
    for (let i = 0; i < 100; i++) expect(a.transport.send('node-2', Buffer.from(`m${i}`))).toBe(true);
    expect(b.transport.send('node-1', Buffer.from('reply'))).toBe(true);
    await waitFor('all messages delivered', () => b.inbox.length === 100 && a.inbox.length === 1);
    expect(b.inbox).toEqual(Array.from({ length: 100 }, (_, i) => ['node-1', `m${i}`]));
    expect(a.inbox).toEqual([['node-2', 'reply']]);
    expect(a.transport.send('node-9', Buffer.from('nobody'))).toBe(false);
  });

  test('each side learns the meta its authenticated peer advertises', async () => {
    const a = await startNode('node-1', { meta: { apiUrl: 'http://10.0.0.1:8080' } });
    const b = await startNode('node-2', { meta: { apiUrl: 'http://10.0.0.2:8080', proxy: '10.0.0.2:8007' } });
    a.transport.addPeer(`127.0.0.1:${b.transport.port}`);
    await waitFor('connected', () => a.transport.connectedPeers().includes('node-2'));
    await waitFor('meta on both sides', () => b.transport.peerMeta('node-1') !== undefined);
    expect(a.transport.peerMeta('node-2')).toEqual({
      apiUrl: 'http://10.0.0.2:8080',
      proxy: '10.0.0.2:8007',
    });
    expect(b.transport.peerMeta('node-1')).toEqual({ apiUrl: 'http://10.0.0.1:8080' });
  });

  test('a node with a wrong secret is refused, and both sides say why', async () => {
    const good = await startNode('node-1');
    const bad = await startNode('node-2', { secret: 'a-different-secret-value' });
    bad.transport.addPeer(`127.0.0.1:${good.transport.port}`);
    good.transport.addPeer(`127.0.0.1:${bad.transport.port}`);
    await waitFor('the refusal on the wrong node', () =>
      bad.transport.peerStatuses().some((peer) => peer.state === 'refused'),
    );
    await waitFor('the refusal on the good node', () =>
      good.transport.peerStatuses().some((peer) => peer.state === 'refused'),
    );
    expect(bad.transport.peerStatuses()[0]?.lastError).toContain(
      'cluster.secret differs between node-2 and node-1',
    );
    expect(good.lines.some((line) => String(line['reason']).includes('cluster.secret differs'))).toBe(true);
    expect(good.transport.connectedPeers()).toEqual([]);
    expect(bad.transport.connectedPeers()).toEqual([]);
    expect(bad.transport.send('node-1', Buffer.from('x'))).toBe(false);
  });

  test('a node of another cluster is refused with the names of both clusters', async () => {
    const a = await startNode('node-1');
    const b = await startNode('node-2', { clusterName: 'other' });
    b.transport.addPeer(`127.0.0.1:${a.transport.port}`);
    await waitFor('the refusal', () => b.transport.peerStatuses()[0]?.state === 'refused');
    expect(b.transport.peerStatuses()[0]?.lastError).toContain(
      'cluster name mismatch: node node-1 is in cluster "test", node node-2 says "other"',
    );
    expect(a.lines.some((line) => line['msg'] === 'refused a cluster connection')).toBe(true);
  });

  test('a peer that is not the node cluster.peers names is refused', async () => {
    const a = await startNode('node-1');
    const b = await startNode('node-2');
    b.transport.addPeer(`node-3@127.0.0.1:${a.transport.port}`);
    await waitFor('the refusal', () => b.transport.peerStatuses()[0]?.state === 'refused');
    expect(b.transport.peerStatuses()[0]?.lastError).toContain('is node-1, but cluster.peers says node-3');
  });

  test('a dropped peer is redialed when it comes back on its address', async () => {
    const { a, port } = await connectedThenPeerGone();
    const revived = await startNode('node-2', { listenPort: port });
    await waitFor('reconnected', () => a.transport.connectedPeers().includes('node-2'));
    expect(a.transport.send('node-2', Buffer.from('again'))).toBe(true);
    await waitFor('delivered', () => revived.inbox.length === 1);
  });

  test('a peer that comes back and dials in is dialed at once, not after the backoff', async () => {
    // A backoff of at least 30 s: without the redial on its inbound connection, a could not send
    // to the revived node-2 within the wait below.
    const { a, port } = await connectedThenPeerGone({
      reconnectDelayMsMin: 60_000,
      reconnectDelayMsMax: 60_000,
    });
    await waitFor('a backing off', () => a.transport.peerStatuses()[0]?.state === 'backoff');
    const revived = await startNode('node-2', { listenPort: port });
    revived.transport.addPeer(`127.0.0.1:${a.transport.port}`);
    await waitFor('a redialed node-2', () => a.transport.connectedPeers().includes('node-2'), {
      timeoutMs: 10_000,
    });
    expect(a.lines.some((line) => line['msg'] === 'cluster peer is back: dialing it now')).toBe(true);
    expect(a.transport.send('node-2', Buffer.from('at once'))).toBe(true);
    await waitFor('delivered', () => revived.inbox.length === 1);
  });

  test('garbage on the cluster port closes that connection and nothing else', async () => {
    const a = await startNode('node-1');
    const b = await startNode('node-2');
    a.transport.addPeer(`127.0.0.1:${b.transport.port}`);
    await waitFor('connected', () => a.transport.connectedPeers().includes('node-2'));
    const closed = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: b.transport.port }, () => {
        socket.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      });
      socket.on('data', () => {});
      socket.on('error', () => {});
      socket.on('close', () => resolve(true));
    });
    expect(closed).toBe(true);
    expect(a.transport.send('node-2', Buffer.from('still here'))).toBe(true);
    await waitFor('delivered', () => b.inbox.length === 1);
  });

  test('with TLS, nodes authenticate and exchange messages over encrypted connections', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wolfscale-tls-'));
    try {
      await writeSelfSignedCertificate(dir);
      const tls: TransportTls = {
        cert: readFileSync(join(dir, 'cert.pem')),
        key: readFileSync(join(dir, 'key.pem')),
        ca: readFileSync(join(dir, 'cert.pem')),
      };
      const a = await startNode('node-1', { tls });
      const b = await startNode('node-2', { tls });
      a.transport.addPeer(`127.0.0.1:${b.transport.port}`);
      await waitFor('connected', () => a.transport.connectedPeers().includes('node-2'));
      expect(a.transport.send('node-2', Buffer.from('secret message'))).toBe(true);
      await waitFor('delivered', () => b.inbox.length === 1);
      expect(b.inbox).toEqual([['node-1', 'secret message']]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
