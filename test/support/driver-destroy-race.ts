/**
 * Child process for test/integration/driver-destroy-guard.test.ts: `destroy()` of a connection
 * with a statement in flight while its server thread is killed, 20 times. Arguments: the port of a
 * MariaDB root account (empty password) and `guard` or `none`. Exits 0 when it survives.
 */
import mariadb from 'mariadb';
import { pino } from 'pino';
import { installDriverDestroyGuard } from '../../src/mariadb/driver-destroy-guard.js';

const [port, mode] = process.argv.slice(2);
if (mode === 'guard') installDriverDestroyGuard(pino({ level: 'warn' }, pino.destination(1)));
const options = { host: '127.0.0.1', port: Number(port), user: 'root', password: '' };
const admin = await mariadb.createConnection(options);
for (let i = 0; i < 20; i++) {
  const connection = await mariadb.createConnection(options);
  const threadId = connection.threadId;
  const running = connection.query('SELECT SLEEP(5)').catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 20));
  connection.destroy();
  await admin.query(`KILL CONNECTION ${threadId}`).catch(() => undefined);
  await running;
}
await new Promise((resolve) => setTimeout(resolve, 300));
await admin.end();
process.stdout.write('survived\n');
