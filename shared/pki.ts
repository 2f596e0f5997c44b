// The cluster's PKI: a CA that setup creates, and EC P-256 certificates whose subject OU lists the
// holder's protocol roles (docs/protocol.md). Made with the openssl CLI.
import { mkdir, writeFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { run } from './run.ts';

export interface CertSpec {
  /** File stem: <dir>/<name>.crt and <dir>/<name>.key */
  name: string;
  commonName: string;
  /** Protocol roles, written to the subject OU as a comma-separated list. */
  roles?: string[];
  /** Subject alternative names for servers. */
  ips?: string[];
  dns?: string[];
  /** How long it is valid (default 825 days); a joined machine's is bounded (docs/security.md). */
  days?: number;
}

export interface CertPaths {
  cert: string;
  key: string;
}

const exists = (p: string) => access(p).then(() => true, () => false);

export async function createCa(dir: string, clusterName: string): Promise<CertPaths> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const paths = { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
  if (await exists(paths.cert)) return paths;
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', paths.key, '-out', paths.cert, '-days', '3650',
    '-subj', `/O=ciao/CN=ciao ${clusterName} CA`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return paths;
}

export async function issueCert(dir: string, ca: CertPaths, spec: CertSpec): Promise<CertPaths> {
  const paths = { cert: join(dir, `${spec.name}.crt`), key: join(dir, `${spec.name}.key`) };
  if (await exists(paths.cert)) return paths;
  const csr = join(dir, `${spec.name}.csr`);
  const ext = join(dir, `${spec.name}.ext`);
  const ou = spec.roles?.length ? `/OU=${spec.roles.join(',')}` : '';
  const sans = [...(spec.ips ?? []).map((ip) => `IP:${ip}`), ...(spec.dns ?? []).map((d) => `DNS:${d}`)];
  await writeFile(ext, [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth,clientAuth',
    ...(sans.length ? [`subjectAltName=${sans.join(',')}`] : []),
  ].join('\n') + '\n');
  await run('openssl', [
    'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', paths.key, '-out', csr, '-subj', `/O=ciao${ou}/CN=${spec.commonName}`,
  ]);
  await run('openssl', [
    'x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${randomBytes(16).toString('hex')}`,
    '-days', String(spec.days ?? 825), '-out', paths.cert, '-extfile', ext,
  ]);
  return paths;
}

/** Roles listed in a peer certificate's subject OU. */
export function rolesOf(subjectOU: string | string[] | undefined): string[] {
  if (!subjectOU) return [];
  const ous = Array.isArray(subjectOU) ? subjectOU : [subjectOU];
  return ous.flatMap((ou) => ou.split(',')).map((r) => r.trim()).filter(Boolean);
}

/** Everything one cluster needs: CA, server cert for the HTTPS services and one cert per protocol
 *  role. A certificate's CN is the id its holder may take in the protocol (docs/security.md):
 *  `nodes` is the node's id, or `<prefix>*` for a fleet of simulated nodes; `agentRoles` its roles
 *  (default both: a dual-role node). */
export async function createClusterPki(dir: string, clusterName: string, opts: { nodes?: string; agentRoles?: string[] } = {}) {
  const ca = await createCa(dir, clusterName);
  const server = { ips: ['127.0.0.1'], dns: ['localhost'] };
  const [https, scheduler, controller, agent, cnci] = await Promise.all([
    issueCert(dir, ca, { name: 'https', commonName: 'localhost', ...server }),
    issueCert(dir, ca, { name: 'scheduler', commonName: 'scheduler', roles: ['scheduler'], ...server }),
    issueCert(dir, ca, { name: 'controller', commonName: 'controller', roles: ['controller'] }),
    issueCert(dir, ca, { name: 'agent', commonName: opts.nodes ?? 'node-*', roles: opts.agentRoles ?? ['compute', 'network'] }),
    // CNCI agents are named by their instance ids: the controller checks each against its tenant.
    issueCert(dir, ca, { name: 'cnci', commonName: '*', roles: ['cnci'] }),
  ]);
  return { ca, https, scheduler, controller, agent, cnci };
}
export type ClusterPki = Awaited<ReturnType<typeof createClusterPki>>;
