/**
 * Child process for test/integration/abandon-connection.test.ts (failure 16 in docs/RELIABILITY.md):
 * a connection with a statement running is given up while its server dies inside the KILL that
 * ends it. The server is a stand-in built on the codec — the moment "MariaDB dies between
 * accepting the KILL connection and answering it" cannot be hit on purpose with a real one: it
 * logs anyone in, never answers `SELECT SLEEP`, and drops the connection that sends `KILL`.
 * Argument: `destroy` (the driver's destroy(), with the node's destroy guard installed) or
 * `abandon` (abandonConnection). Prints `survived` and exits 0 when the process lives on.
 */
import { createServer, type Socket } from 'node:net';
import mariadb from 'mariadb';
import { pino } from 'pino';
import { abandonConnection } from '../../src/mariadb/abandon-connection.js';
import { installDriverDestroyGuard } from '../../src/mariadb/driver-destroy-guard.js';
import { ServerStatus } from '../../src/protocol/capabilities.js';
import { encodeInitialHandshake } from '../../src/protocol/handshake/initial-handshake.js';
import { encodePacket, PacketFramer } from '../../src/protocol/packet/packet-framer.js';
import { encodeOkPacket, okPacket } from '../../src/protocol/response/ok-packet.js';
import { proxyCapabilities } from '../../src/proxy/session.js';

const mode = process.argv[2];
installDriverDestroyGuard(pino({ level: 'warn' }, pino.destination(1)));

let nextId = 100;
const server = createServer((socket: Socket) => {
  const framer = new PacketFramer();
  let loggedIn = false;
  const ok = (sequenceId: number) =>
    socket.write(
      encodePacket(encodeOkPacket(okPacket(ServerStatus.autocommit), proxyCapabilities), sequenceId).bytes,
    );
  socket.on('error', () => undefined);
  socket.write(
    encodePacket(
      encodeInitialHandshake({
        serverVersion: '10.11.19-MariaDB-stand-in',
        connectionId: nextId++,
        authPluginData: Buffer.alloc(20, 7),
        capabilities: proxyCapabilities,
        mariadbCapabilities: 0,
        characterSet: 45,
        statusFlags: ServerStatus.autocommit,
        authPluginName: 'mysql_native_password',
      }),
      0,
    ).bytes,
  );
  socket.on('data', (chunk: Buffer) => {
    const packets = framer.push(chunk);
    if (!packets.ok) return socket.destroy();
    for (const packet of packets.value) {
      if (!loggedIn) {
        loggedIn = true;
        ok(packet.sequenceId + 1);
        continue;
      }
      const command = packet.payload[0];
      const sql = packet.payload.subarray(1).toString('utf8');
      if (command === 0x01) socket.end();
      else if (command === 0x03 && /^KILL/i.test(sql))
        socket.destroy(); // dies inside the KILL
      else if (command === 0x03 && /SLEEP/i.test(sql))
        continue; // runs for ever
      else ok(packet.sequenceId + 1);
    }
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const address = server.address();
if (address === null || typeof address === 'string') throw new Error('no port');
const options = { host: '127.0.0.1', port: address.port, user: 'app', password: '' };

for (let i = 0; i < 5; i++) {
  const connection = await mariadb.createConnection(options);
  connection.on('error', () => undefined);
  const running = connection.query('SELECT SLEEP(600)').catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 20));
  if (mode === 'destroy') connection.destroy();
  else abandonConnection(connection, options);
  void running;
  await new Promise((resolve) => setTimeout(resolve, 200));
}
server.close();
process.stdout.write('survived\n');
process.exit(0);
