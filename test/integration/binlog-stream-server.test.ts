import { createConnection } from 'mariadb';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BinlogStreamServer, BinlogTransactionList } from '../../src/node/binlog-stream-server.js';

/** The binlog-stream endpoint as an ordinary client sees it (no MariaDB server needed). */
describe('the binlog stream endpoint answers clients other than a replica correctly', () => {
  const stream = new BinlogStreamServer({
    port: 0,
    user: 'wolfscale_stream',
    password: 'stream-secret',
    serverId: 4_000_000_001,
    feed: new BinlogTransactionList(),
    logger: pino({ level: 'silent' }),
  });
  beforeAll(async () => {
    await stream.start();
  });
  afterAll(async () => {
    await stream.close();
  });

  const connect = (password: string) =>
    createConnection({
      host: '127.0.0.1',
      port: stream.port,
      user: 'wolfscale_stream',
      password,
      // No set-up queries of the driver's own: only what this test sends reaches the endpoint.
      initSql: [],
      connectTimeout: 5000,
    });

  test('a wrong password is refused with access denied', async () => {
    await expect(connect('wrong')).rejects.toMatchObject({ errno: 1045 });
  });

  test('set-up queries are answered; an unknown query gets an ERR naming it; the session survives', async () => {
    const connection = await connect('stream-secret');
    try {
      await connection.query("SET @slave_connect_state='0-1-5'");
      expect(await connection.query('SELECT @slave_connect_state')).toEqual([
        { '@slave_connect_state': '0-1-5' },
      ]);
      expect(await connection.query('SELECT @@GLOBAL.SERVER_ID')).toEqual([
        { '@@GLOBAL.SERVER_ID': '4000000001' },
      ]);
      await connection.query('SET @master_binlog_checksum= @@global.binlog_checksum');
      expect(await connection.query('SELECT @master_binlog_checksum')).toEqual([
        { '@master_binlog_checksum': 'CRC32' },
      ]);
      await expect(connection.query('SELECT @@global.no_such_variable')).rejects.toMatchObject({
        errno: 1193,
      });
      await expect(connection.query('DROP TABLE t')).rejects.toThrow(/does not answer 'DROP TABLE t'/);
      expect(await connection.query('SELECT @slave_connect_state')).toEqual([
        { '@slave_connect_state': '0-1-5' },
      ]);
    } finally {
      await connection.end();
    }
  });
});
