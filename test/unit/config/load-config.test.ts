import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  type ConfigResult,
  formatProblems,
  loadConfig,
  parseConfig,
} from '../../../src/config/load-config.js';

const minimal = `
[node]
id = "node-1"

[database]
user = "wolfscale"
password = "secret"
`;

const threeNode = `
[node]
id = "node-1"
bind_address = "0.0.0.0:7654"
advertise_address = "10.0.0.1:7654"

[database]
user = "wolfscale"
password = "pw"

[cluster]
secret = "0123456789abcdef0123"
peers = ["node-2@10.0.0.2:7654", "10.0.0.3:7654"]
`;

function errorsOf(result: ConfigResult): string[] {
  if (result.ok) throw new Error('expected the configuration to be refused');
  return result.errors.map((problem) => `${problem.line ?? '-'} ${problem.key}: ${problem.message}`);
}

describe('configuration loader', () => {
  test('a minimal file gets the documented defaults', () => {
    const result = parseConfig(minimal);
    if (!result.ok) throw new Error(formatProblems('x', result.errors));
    expect(result.warnings).toEqual([]);
    const { config } = result;
    expect(config.node).toEqual({
      id: 'node-1',
      bind_address: '0.0.0.0:7654',
      data_dir: '/var/lib/wolfscale',
    });
    expect(config.database).toMatchObject({ host: '127.0.0.1', port: 3306, pool_size: 10 });
    expect(config.wal).toEqual({
      batch_size: 1000,
      flush_interval_ms: 0,
      compression: true,
      segment_size_mb: 64,
      retention_hours: 168,
      fsync: true,
    });
    expect(config.cluster).toMatchObject({
      heartbeat_interval_ms: 500,
      election_timeout_ms: 1500,
      failback: true,
      dead_node_removal_s: 30,
      max_apply_lag_ms: 1000,
      never_leader: false,
      peers: [],
    });
    expect(config.api).toMatchObject({ enabled: true, bind_address: '0.0.0.0:8080', open_status: true });
    expect(config.proxy).toMatchObject({
      enabled: true,
      bind_address: '0.0.0.0:8007',
      failover_wait_ms: 5000,
    });
    expect(config.replication.mode).toBe('local');
  });

  test('a valid three-node file passes', () => {
    const result = parseConfig(threeNode);
    expect(result.ok).toBe(true);
  });

  test('an unknown key is an error naming its line, with a suggestion', () => {
    const text = `${minimal}\n[proxy]\nbind_adress = "0.0.0.0:8007"\n`;
    expect(errorsOf(parseConfig(text))).toEqual([
      '10 proxy.bind_adress: unknown key "proxy.bind_adress"; did you mean "bind_address"?',
    ]);
  });

  test('an unknown key is only a warning when starting, so old files still start', () => {
    const text = `${minimal}\n[cluster]\nheartbeat_intervall_ms = 100\n`;
    const result = parseConfig(text, { unknownKeys: 'warn' });
    if (!result.ok) throw new Error('expected ok');
    expect(result.warnings.map((w) => w.message)).toEqual([
      'unknown key "cluster.heartbeat_intervall_ms"; did you mean "heartbeat_interval_ms"?',
    ]);
    expect(result.config.cluster.heartbeat_interval_ms).toBe(500);
  });

  test('an unknown section is named with the list of sections', () => {
    const [error] = errorsOf(parseConfig(`${minimal}\n[clustr]\npeers = []\n`));
    expect(error).toContain('unknown section [clustr]; did you mean "cluster"?');
  });

  test('a wrong type names the key and line', () => {
    const text = `${minimal}\n[cluster]\nheartbeat_interval_ms = "fast"\n`;
    expect(errorsOf(parseConfig(text))).toEqual([
      '10 cluster.heartbeat_interval_ms: cluster.heartbeat_interval_ms: Invalid input: expected number, received string',
    ]);
  });

  test('a missing required key says it has no default', () => {
    const text = '[node]\nid = "node-1"\n[database]\nuser = "u"\n';
    expect(errorsOf(parseConfig(text))).toEqual([
      '3 database.password: missing "database.password" in [database]: it has no default, set it',
    ]);
  });

  test('a missing section is named', () => {
    expect(errorsOf(parseConfig('[node]\nid = "n1"\n'))).toEqual([
      '- database: missing a [database] section: it has no default, set it',
    ]);
  });

  test('a TOML syntax error names its line', () => {
    const [error] = errorsOf(parseConfig('[node]\nid = = "x"\n'));
    expect(error).toMatch(/^2 : Invalid TOML document.*fix the TOML syntax$/);
  });

  test('a node that lists itself among its peers is refused', () => {
    const text = threeNode.replace('"10.0.0.3:7654"', '"10.0.0.1:7654"');
    expect(errorsOf(parseConfig(text))).toEqual([
      '13 cluster.peers: cluster.peers lists this node itself ("10.0.0.1:7654"): list only the other nodes',
    ]);
    const byId = threeNode.replace('node-2@', 'node-1@');
    expect(errorsOf(parseConfig(byId))[0]).toContain('lists this node itself ("node-1@10.0.0.2:7654")');
  });

  test('binding 0.0.0.0 with peers needs advertise_address', () => {
    const text = threeNode.replace('advertise_address = "10.0.0.1:7654"\n', '');
    expect(errorsOf(parseConfig(text))).toEqual([
      '4 node.bind_address: node.bind_address is 0.0.0.0:7654, which peers cannot dial: set node.advertise_address to this node\'s reachable "host:port"',
    ]);
  });

  test('peers without a shared secret are refused', () => {
    const text = threeNode.replace('secret = "0123456789abcdef0123"\n', '');
    expect(errorsOf(parseConfig(text))[0]).toContain('cluster.secret is missing');
  });

  test('addresses, ports, ids and timeouts are range-checked', () => {
    expect(errorsOf(parseConfig(minimal.replace('"node-1"', '"node 1"')))[0]).toContain(
      'node.id: expected 1–64',
    );
    expect(errorsOf(parseConfig(`${minimal}\n[api]\nbind_address = "0.0.0.0:99999"\n`))[0]).toContain(
      'api.bind_address: expected "host:port" with a port from 1 to 65535',
    );
    expect(errorsOf(parseConfig(`${minimal}\n[cluster]\nelection_timeout_ms = 1000\n`))[0]).toContain(
      'must be at least 3 × cluster.heartbeat_interval_ms (500)',
    );
  });

  test("the original's key names keep working", () => {
    const text = `${minimal}
[cluster]
disable_auto_election = true
auto_discovery = true

[proxy]
ssl_cert = "/etc/wolfscale/cert.pem"
ssl_key = "/etc/wolfscale/key.pem"

[replication]
mode = "proxy"
`;
    const result = parseConfig(text);
    if (!result.ok) throw new Error(formatProblems('x', result.errors));
    expect(result.config.cluster.never_leader).toBe(true);
    expect(result.config.proxy.tls_cert).toBe('/etc/wolfscale/cert.pem');
    expect(result.config.replication.mode).toBe('local');
    expect(result.warnings.map((w) => `${w.line} ${w.key}`)).toEqual([
      '18 replication.mode',
      '11 cluster.auto_discovery',
    ]);
  });

  test('a missing file says how to create one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wolfscale-config-'));
    try {
      const missing = await loadConfig(join(dir, 'nope.toml'));
      expect(errorsOf(missing)[0]).toContain('does not exist: create one with `wolfscale init -o');
      await writeFile(join(dir, 'ok.toml'), minimal);
      expect((await loadConfig(join(dir, 'ok.toml'))).ok).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
