import t from 'tap';
import { request } from 'undici';
import { join } from 'node:path';
import https from 'node:https';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connectionHint } from '../../shared/connection-hint.ts';
import { createCa, createClusterPki } from '../../shared/pki.ts';
import { clusterAgent, readTls } from '../../shared/tls-files.ts';
import { freePort } from '../../singlevm/ports.ts';
import { withTempDir } from '../../shared/temp-dir.ts';

t.test('a refused connection says to bring the cluster up', async (t) => {
  const err = await request(`https://127.0.0.1:${await freePort()}/`).catch((e: unknown) => e);
  t.match(connectionHint(err), /is the cluster up\? \.\/singlevm\/setup\.sh/);
});

t.test('a server the CA file does not vouch for says to check CIAO_CA_CERT_FILE', (t) => withTempDir('ciao-hint', async (dir) => {
  const pki = await createClusterPki(join(dir, 'a'), 'a');
  const other = await createCa(join(dir, 'b'), 'b');
  const server = https.createServer(readTls({ ca: pki.ca.cert, ...pki.https }), (_q, s) => s.end('ok'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const agent = clusterAgent(other.cert);
  const err = await request(`https://127.0.0.1:${(server.address() as AddressInfo).port}/`, { dispatcher: agent }).catch((e: unknown) => e);
  await agent.close();
  t.match(connectionHint(err), /CIAO_CA_CERT_FILE/);
}));
