import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, for a server that will listen on it.
 *
 * Ports are drawn at random from below the kernel's ephemeral range (ip_local_port_range), so no
 * outgoing connection can take one between this check and the caller's own listen(): with the
 * kernel's own port-0 choice, any connection made meanwhile (a driver, a probe, another test) could
 * take the port, and a node process would fail with EADDRINUSE. A port this process handed out
 * is not handed out again (a playground draws four per node before any of them listens: two equal
 * draws gave a node's API and proxy one port, and the node failed to start in a full `npm test`).
 * What remains is two processes drawing the same random port at once, which the draw makes
 * unlikely.
 */
const fallbackRange = { low: 32_768, high: 60_999 };
const lowestPort = 10_000;
const attemptsMax = 200;
/** Ports this process handed out (a few per server started; a test run starts a few hundred). */
const handedOut = new Set<number>();

function ephemeralRange(): { low: number; high: number } {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (low !== undefined && high !== undefined && Number.isInteger(low) && Number.isInteger(high))
      return { low, high };
  } catch {
    // not Linux, or no /proc: assume the usual range
  }
  return fallbackRange;
}

async function canListen(port: number, host: string): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  const { low } = ephemeralRange();
  const high = Math.max(lowestPort + 1000, low - 1);
  for (let attempt = 0; attempt < attemptsMax; attempt++) {
    const port = lowestPort + Math.floor(Math.random() * (high - lowestPort));
    if (handedOut.has(port)) continue;
    if (await canListen(port, host)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(
    `freePort: no free port found on ${host} in ${attemptsMax} tries between ${lowestPort} and ${high}`,
  );
}
