import { parseConfig } from '../../src/config/load-config.js';
import type { ConfigFile } from '../../src/config/schema.js';

/**
 * The configuration of a proxy in front of one test MariaDB (root, empty password), as the
 * leader's proxy would run it: node `node-1`, the proxy on `proxyPort`, optional TLS.
 */
export function proxyTestConfig(options: {
  readonly dataDir: string;
  readonly mariadbPort: number;
  readonly proxyPort: number;
  readonly tls?: { readonly certPath: string; readonly keyPath: string };
}): ConfigFile {
  const { tls } = options;
  const parsed = parseConfig(`
[node]
id = "node-1"
bind_address = "127.0.0.1:1"
data_dir = "${options.dataDir}"
[database]
host = "127.0.0.1"
port = ${options.mariadbPort}
user = "root"
password = ""
[proxy]
bind_address = "127.0.0.1:${options.proxyPort}"
${tls === undefined ? '' : `tls_cert = "${tls.certPath}"\ntls_key = "${tls.keyPath}"`}
`);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.config;
}
