import { connect, createServer, type Server, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, test } from 'vitest';
import { FaultRelay, RelayMesh } from '../../../src/testing/fault-relay.js';
import { Transport } from '../../../src/transport/transport.js';
import { waitFor } from '../../support/wait-for.js';

/** A server that echoes and counts what it received. */
async function echoServer(): Promise<{ server: Server; port: number; received: () => number }> {
  let received = 0;
  const server = createServer((socket) => {
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      socket.write(chunk);
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return { server, port: address.port, received: () => received };
}

async function client(port: number): Promise<{ socket: Socket; text: () => string; closed: () => boolean }> {
  const socket = connect({ host: '127.0.0.1', port });
  let text = '';
  let closed = false;
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  socket.on('close', () => {
    closed = true;
  });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, text: () => text, closed: () => closed };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('fault relay', () => {
  test('passes bytes both ways; a cut established connection passes nothing either way; heal resets it and new connections pass', async () => {
    const echo = await echoServer();
    cleanups.push(() => void echo.server.close());
    const relay = await FaultRelay.start({ host: '127.0.0.1', port: echo.port });
    cleanups.push(() => relay.close());
    const c = await client(relay.port);
    c.socket.write('hello');
    await waitFor('echo', () => c.text() === 'hello');

    relay.cutTraffic('both');
    c.socket.write('lost!');
    await waitFor('the relay to drop the bytes', () => relay.counters.dropped === 5);
    expect(echo.received()).toBe(5); // only "hello" ever reached the server
    expect(c.text()).toBe('hello');
    expect(c.closed()).toBe(false); // silent, not closed: a black hole

    // A new connection during the cut is accepted but hangs: its bytes go nowhere.
    const during = await client(relay.port);
    during.socket.write('abc');
    await waitFor('the relay to drop the new bytes', () => relay.counters.dropped === 8);
    expect(echo.received()).toBe(5);

    relay.heal();
    await waitFor('damaged connections to be reset', () => c.closed() && during.closed());
    const after = await client(relay.port);
    after.socket.write('again');
    await waitFor('echo after heal', () => after.text() === 'again');
    after.socket.destroy();
  });

  test('one way: with backward cut the server receives, the client hears nothing', async () => {
    const echo = await echoServer();
    cleanups.push(() => void echo.server.close());
    const relay = await FaultRelay.start({ host: '127.0.0.1', port: echo.port });
    cleanups.push(() => relay.close());
    const c = await client(relay.port);
    relay.cutTraffic('backward');
    c.socket.write('ping');
    await waitFor('server received', () => echo.received() === 4);
    await waitFor('the echo to be dropped', () => relay.counters.dropped === 4);
    expect(c.text()).toBe('');
    c.socket.destroy();
  });

  test('delay keeps order', async () => {
    const echo = await echoServer();
    cleanups.push(() => void echo.server.close());
    const relay = await FaultRelay.start({ host: '127.0.0.1', port: echo.port });
    cleanups.push(() => relay.close());
    relay.delay(30);
    const c = await client(relay.port);
    for (let i = 0; i < 20; i++) c.socket.write(`${i},`);
    const expected = Array.from({ length: 20 }, (_, i) => `${i},`).join('');
    await waitFor('all echoed in order', () => c.text() === expected);
    c.socket.destroy();
  });

  test('a mesh between two real transports: a cut stops messages, heal lets them through again', async () => {
    const logger = pino({ level: 'silent' });
    const a = await Transport.start({
      nodeId: 'node-1',
      clusterName: 'test',
      secret: 'relay-secret-0123456789',
      listenHost: '127.0.0.1',
      listenPort: 0,
      peers: [],
      logger,
      reconnectDelayMsMin: 20,
      reconnectDelayMsMax: 100,
    });
    const b = await Transport.start({
      nodeId: 'node-2',
      clusterName: 'test',
      secret: 'relay-secret-0123456789',
      listenHost: '127.0.0.1',
      listenPort: 0,
      peers: [],
      logger,
      reconnectDelayMsMin: 20,
      reconnectDelayMsMax: 100,
    });
    cleanups.push(() => a.close());
    cleanups.push(() => b.close());
    const mesh = await RelayMesh.start([a.port, b.port]);
    cleanups.push(() => mesh.close());
    a.addPeer(`node-2@127.0.0.1:${mesh.relay(0, 1).port}`);
    b.addPeer(`node-1@127.0.0.1:${mesh.relay(1, 0).port}`);
    const inbox: string[] = [];
    b.onMessage((_from, payload) => inbox.push(Buffer.from(payload).toString()));
    await waitFor('connected', () => a.connectedPeers().includes('node-2'));
    a.send('node-2', Buffer.from('before'));
    await waitFor('delivered', () => inbox.includes('before'));

    mesh.cutBetween(0, 1);
    const dropped = mesh.relay(0, 1).counters.dropped;
    a.send('node-2', Buffer.from('during'));
    await waitFor('the message to be dropped', () => mesh.relay(0, 1).counters.dropped > dropped);
    expect(inbox).toEqual(['before']);

    mesh.heal();
    await waitFor(
      'a message after heal to arrive (the transport reconnects)',
      () => {
        a.send('node-2', Buffer.from('after'));
        return inbox.includes('after');
      },
      { intervalMs: 50 },
    );
    expect(inbox).not.toContain('during');
  });
});
