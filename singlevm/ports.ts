// Free loopback ports for a new cluster, so clusters with different names can coexist.
import net from 'node:net';
import { readFile } from 'node:fs/promises';

/** The kernel's ephemeral range (net.ipv4.ip_local_port_range): where it takes the source ports of
 *  outgoing connections, and the ports of listen(0). */
export async function ephemeralRange(file = '/proc/sys/net/ipv4/ip_local_port_range'): Promise<[number, number]> {
  const [low, high] = (await readFile(file, 'utf8').catch(() => '')).trim().split(/\s+/).map(Number);
  return Number.isInteger(low) && Number.isInteger(high) && low <= high ? [low, high] : [32_768, 60_999];
}

/** Where daemonPort looks first: above the well-known and common service ports. */
const DAEMON_PORTS_FROM = 10_000;

/** A free loopback port for a cluster's daemon, kept in its record, below the kernel's ephemeral
 *  range. One from that range, free when chosen, may become the source port of any outgoing
 *  connection before the daemon binds it: a second later at setup, days later at a resume (CI saw
 *  identity end so, "identity exited with code 1", while other tests ran). `random` picks among
 *  them (tests give their own); a range too small, or full, falls back to any free port. */
export async function daemonPort(host = '127.0.0.1', random = Math.random): Promise<number> {
  const [low] = await ephemeralRange();
  const span = low - DAEMON_PORTS_FROM;
  for (let tries = 0; span > 0 && tries < 64; tries++) {
    const port = DAEMON_PORTS_FROM + Math.floor(random() * span);
    if (await portIsFree(port, host)) return port;
  }
  return freePort(host);
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}
