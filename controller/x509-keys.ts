// X.509 keypairs (Nova's type "x509", microversion 2.2): an imported certificate is parsed by
// node:crypto; a generated one is a self-signed RSA certificate made with the openssl CLI (node
// cannot issue certificates), its private key returned once, as Nova's.
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { badRequest } from '../shared/errors.ts';
import { run } from '../shared/run.ts';
import { withTempDir } from '../shared/temp-dir.ts';
import type { PublicKey } from './ssh-keys.ts';

/** Nova's x509 fingerprint: the SHA-1 of the certificate, colon-separated lowercase hex. */
const fingerprintOf = (cert: X509Certificate) => cert.fingerprint.toLowerCase();

export function parseCertificate(pem: string): PublicKey {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem.trim());
  } catch (err) {
    throw badRequest(`public_key is not a PEM X.509 certificate: ${(err as Error).message}`);
  }
  return { text: pem.trim(), type: 'x509', fingerprint: fingerprintOf(cert) };
}

export async function generateCertificate(): Promise<{ publicKey: PublicKey; privateKey: string }> {
  return withTempDir('ciao-x509-keypair', async (dir) => {
    const [key, crt] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
    // The subject is fixed, so nothing the user wrote reaches the command line.
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt, '-days', '3650', '-subj', '/CN=ciao-keypair']);
    const pem = await readFile(crt, 'utf8');
    return { publicKey: parseCertificate(pem), privateKey: await readFile(key, 'utf8') };
  });
}
