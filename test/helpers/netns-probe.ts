// Reachability from inside a namespace, without ping: a TCP connect to a closed port answers with
// a reset when the address is reachable and times out when it is not.
import { run } from '../../shared/run.ts';

const PROBE = `
const s = require('net').connect({ host: process.argv[1], port: 9, timeout: Number(process.argv[2]) });
s.on('connect', () => { console.log('open'); process.exit(0); });
s.on('error', (e) => { console.log(e.code === 'ECONNREFUSED' ? 'reachable' : 'unreachable:' + e.code); process.exit(0); });
s.on('timeout', () => { console.log('timeout'); process.exit(0); });
`;

export async function probeFrom(ns: string, ip: string, timeoutMs = 1500): Promise<string> {
  const r = await run('ip', ['netns', 'exec', ns, process.execPath, '-e', PROBE, ip, String(timeoutMs)]);
  return r.stdout.trim();
}
