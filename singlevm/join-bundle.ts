// The join bundle (docs/singlevm-network.md, "The join bundle"): everything a second machine needs
// to join a cluster as one node, in one JSON file, 0600, with an expiry. Read back through a schema:
// a crafted bundle is a one-line error, and nothing in it ever names a path.
import { open, readFile, stat } from 'node:fs/promises';
import { z } from 'zod';
import { validClusterName } from './cluster-files.ts';

export const BUNDLE_KIND = 'ciao-join-bundle';
/** The stretched cluster network's tunnel: a VNI outside the tenants' (1–4096), its own UDP port. */
export const UNDERLAY_VNI = 1048576;
export const UNDERLAY_PORT = 4790;
/** Joined node k's leg on the cluster network: 198.51.100.(60+k), below the CNCIs' DHCP range. */
export const MAX_JOINS = 39;
export const joinedLeg = (k: number) => `198.51.100.${60 + k}`;
export const joinedNodeId = (cluster: string, k: number) => `${cluster}-join-${k}`;

const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const Ipv4 = z.string().regex(new RegExp(`^${OCTET}(\\.${OCTET}){3}$`), 'an IPv4 address');
const pem = (label: string) => z.string().max(16384).regex(
  new RegExp(`^-----BEGIN ${label}-----\\n[A-Za-z0-9+/=\\n]+-----END ${label}-----\\n?$`), `a PEM ${label}`);

export const JoinBundle = z.strictObject({
  kind: z.literal(BUNDLE_KIND),
  version: z.literal(1),
  cluster: z.string().refine(validClusterName, 'a cluster name (lowercase letters, digits or -, at most 16)'),
  nodeId: z.string(),
  expires: z.iso.datetime(),
  pki: z.strictObject({ ca: pem('CERTIFICATE'), cert: pem('CERTIFICATE'), key: pem('PRIVATE KEY') }),
  scheduler: z.strictObject({ address: z.literal('198.51.100.1'), port: z.number().int().min(1).max(65535) }),
  network: z.strictObject({ cidr: z.literal('198.51.100.0/24'), leg: Ipv4 }),
  underlay: z.strictObject({
    vni: z.literal(UNDERLAY_VNI), port: z.literal(UNDERLAY_PORT),
    cluster: Ipv4, node: Ipv4, prefix: z.number().int().min(8).max(30),
  }),
  vmImages: z.array(z.uuid()).max(16),
}).superRefine((b, ctx) => {
  // The id, the leg and the cluster must agree: k names all three.
  const m = b.nodeId.match(/^(.+)-join-([1-9]\d?)$/);
  const k = m ? Number(m[2]) : 0;
  if (!m || m[1] !== b.cluster || k > MAX_JOINS) ctx.addIssue({ code: 'custom', path: ['nodeId'], message: `must be ${b.cluster}-join-<1…${MAX_JOINS}>` });
  else if (b.network.leg !== joinedLeg(k)) ctx.addIssue({ code: 'custom', path: ['network', 'leg'], message: `must be ${joinedLeg(k)} for ${b.nodeId}` });
  if (b.underlay.cluster === b.underlay.node) ctx.addIssue({ code: 'custom', path: ['underlay', 'node'], message: "must differ from the cluster's address" });
});
export type JoinBundle = z.infer<typeof JoinBundle>;

/** What bundles are for, in errors: "join bundle FILE: …". */
export class BundleError extends Error {
  override name = 'BundleError';
}

/** The joined node's number k (from its id, checked by the schema). */
export const joinNumber = (b: JoinBundle) => Number(b.nodeId.slice(b.nodeId.lastIndexOf('-') + 1));

/** Writes the bundle 0600; an existing file is never overwritten (it may be someone's key). */
export async function writeBundle(file: string, bundle: JoinBundle): Promise<void> {
  const checked = JoinBundle.parse(bundle);
  const fh = await open(file, 'wx', 0o600).catch((err: NodeJS.ErrnoException) => {
    throw new BundleError(err.code === 'EEXIST' ? `${file} exists: a bundle is never written over a file` : `cannot write ${file}: ${err.message}`);
  });
  try {
    await fh.chmod(0o600);
    await fh.writeFile(`${JSON.stringify(checked, null, 2)}\n`);
  } finally {
    await fh.close();
  }
}

/** Reads and checks a bundle: its shape, its mode (not readable by others) and its expiry. */
export async function readBundle(file: string, now = new Date()): Promise<JoinBundle> {
  const info = await stat(file).catch((err: Error) => { throw new BundleError(`cannot read ${file}: ${err.message}`); });
  if (!info.isFile()) throw new BundleError(`${file} is not a file`);
  if (info.size > 65536) throw new BundleError(`${file} is ${info.size} bytes: a bundle is a few KiB`);
  if (info.mode & 0o077) throw new BundleError(`${file} is readable by others (mode ${(info.mode & 0o777).toString(8)}): it holds a key; chmod 600 it`);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new BundleError(`${file} is not JSON: ${(err as Error).message}`);
  }
  const parsed = JoinBundle.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BundleError(`${file} is not a join bundle: ${issue.path.join('.') || '(top)'}: ${issue.message}`);
  }
  if (Date.parse(parsed.data.expires) <= now.getTime()) {
    throw new BundleError(`${file} expired at ${parsed.data.expires}: export a new one (setup.sh --export-join)`);
  }
  return parsed.data;
}

/** "1h", "30m", "90s" → milliseconds (undefined for anything else). */
export function parseDuration(s: string): number | undefined {
  const m = s.match(/^(\d{1,6})([smh])$/);
  return m ? Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 's' | 'm' | 'h'] : undefined;
}
