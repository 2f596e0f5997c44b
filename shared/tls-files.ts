// Loading the cluster's PKI files: servers get their key pair, clients get an undici Agent
// that trusts only the cluster CA.
import { readFileSync } from 'node:fs';
import { Agent } from 'undici';

export { readTls, type TlsFiles } from './tls-read.ts';

/** An HTTP client dispatcher that trusts the cluster CA (and nothing else). */
export function clusterAgent(caFile: string, connections = 64): Agent {
  return new Agent({ connect: { ca: readFileSync(caFile) }, connections, keepAliveTimeout: 10_000 });
}
