import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Capability, wolfscaleClientCapabilities } from '../../src/protocol/capabilities.js';
import { encodeComQuery } from '../../src/protocol/command/com-query.js';
import { ClientLogin, type ClientLoginAction } from '../../src/protocol/handshake/client-login.js';
import {
  CompressedPacketFramer,
  encodeCompressedPackets,
} from '../../src/protocol/packet/compressed-packet-framer.js';
import { encodePacket, type Packet, PacketFramer } from '../../src/protocol/packet/packet-framer.js';
import { ResponseFramer } from '../../src/protocol/response/response-framer.js';
import { decodeTextRow } from '../../src/protocol/response/text-row.js';
import type { MariaDbSet } from '../../src/testing/mariadb-harness.js';
import { startMariaDb } from '../support/mariadb.js';

/** A bare client on the codec alone: packets in, packets out, optionally compressed after login. */
class BareClient {
  readonly #socket: Socket;
  readonly #plain = new PacketFramer();
  readonly #compressed = new CompressedPacketFramer();
  readonly #inner = new PacketFramer();
  #compression = false;
  readonly #packets: Packet[] = [];
  #wake: (() => void) | undefined;

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
  }

  #onData(chunk: Buffer): void {
    if (!this.#compression) {
      const packets = this.#plain.push(chunk);
      if (packets.ok) this.#packets.push(...packets.value);
    } else {
      const chunks = this.#compressed.push(chunk);
      if (chunks.ok) {
        for (const piece of chunks.value) {
          const packets = this.#inner.push(piece.bytes);
          if (packets.ok) this.#packets.push(...packets.value);
        }
      }
    }
    this.#wake?.();
  }

  async next(): Promise<Packet> {
    for (;;) {
      const packet = this.#packets.shift();
      if (packet !== undefined) return packet;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  send(payload: Buffer, sequenceId: number): void {
    const packet = encodePacket(payload, sequenceId).bytes;
    this.#socket.write(this.#compression ? encodeCompressedPackets(packet, sequenceId).bytes : packet);
  }

  startCompression(): void {
    this.#compression = true;
  }

  close(): void {
    this.#socket.destroy();
  }
}

describe('the codec alone against MariaDB 10.11', () => {
  let set: MariaDbSet;
  beforeAll(async () => {
    set = await startMariaDb(1);
    await set.servers[0]!.query("CREATE USER 'bare'@'%' IDENTIFIED BY 'barepw'");
  });
  afterAll(async () => {
    await set?.destroy();
  });

  test('logs in, then runs a query over the compressed protocol and reads its result set', async () => {
    const server = set.servers[0]!;
    const socket = connect({ host: '127.0.0.1', port: server.port });
    await new Promise((resolve) => socket.once('connect', resolve));
    const client = new BareClient(socket);
    try {
      const login = new ClientLogin({
        user: 'bare',
        password: 'barepw',
        tls: false,
        capabilities: (wolfscaleClientCapabilities | Capability.compress) >>> 0,
      });
      let capabilities = 0;
      let actions: ClientLoginAction[] = login.onPacket(await client.next());
      while (capabilities === 0) {
        for (const action of actions) {
          if (action.kind === 'send') client.send(action.payload, action.sequenceId);
          if (action.kind === 'done') capabilities = action.result.capabilities;
          if (action.kind === 'failed') throw new Error(action.error.message);
        }
        if (capabilities === 0) actions = login.onPacket(await client.next());
      }
      expect(capabilities & Capability.compress).toBe(Capability.compress);
      client.startCompression();
      client.send(encodeComQuery("SELECT REPEAT('w', 3000) AS w, CURRENT_USER() AS u"), 0);
      const framer = new ResponseFramer('query', {
        deprecateEof: (capabilities & Capability.deprecateEof) !== 0,
      });
      const rows: string[][] = [];
      while (!framer.complete) {
        const packet = await client.next();
        const step = framer.next(packet.payload);
        if (!step.ok) throw new Error(step.error.message);
        if (step.value.packet === 'row') {
          const row = decodeTextRow(packet.payload, 2);
          if (row.ok) rows.push(row.value.map((value) => value?.toString() ?? ''));
        }
      }
      expect(rows).toEqual([['w'.repeat(3000), 'bare@%']]);
    } finally {
      client.close();
    }
  });
});
