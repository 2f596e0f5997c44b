// A server's key pair and the cluster CA, read from the cluster's PKI files. Apart from
// tls-files.ts (which also makes HTTP clients): a daemon that only serves TLS, the scheduler,
// does not load undici (docs/scale.md, "Fifth pass: memory").
import { readFileSync } from 'node:fs';

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

export function readTls(files: TlsFiles) {
  return { ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key) };
}
