// A cloud-init "config-2" config drive (OpenStack layout) as an ISO 9660 image: the instance's
// metadata (hostname = instance id, the Compute keypair's public key as public_keys), its user data
// and the files injected into it (Nova's personality: meta_data.json `files`, their contents under
// openstack/content/, which the guest's init writes at each boot).
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../shared/run.ts';

export interface ConfigDrive {
  instanceId: string;
  hostname: string;
  userData?: string;
  /** OpenSSH public keys by keypair name (Nova's meta_data.json public_keys). */
  publicKeys?: Record<string, string>;
  /** Absolute paths in the guest and their contents (base64), already checked (protocol/payloads.ts). */
  files?: { path: string; contents: string }[];
  /** Variables for the guest's environment (ciao/environment, KEY=VALUE lines; guest-init.sh). */
  environment?: Record<string, string>;
}

const contentPath = (n: number) => `/content/${String(n).padStart(4, '0')}`;

/** meta_data.json as OpenStack's config drive has it. */
const metaData = (c: ConfigDrive) =>
  JSON.stringify({
    uuid: c.instanceId, name: c.hostname, hostname: c.hostname, ...(c.publicKeys ? { public_keys: c.publicKeys } : {}),
    ...(c.files?.length ? { files: c.files.map((f, n) => ({ path: f.path, content_path: contentPath(n) })) } : {}),
  }) + '\n';

/** Writes the ISO at `isoPath`. Its files are laid out first in `<isoPath>.d`, beside it: inside the
 *  instance's folder, so a launcher killed meanwhile leaves nothing outside the cluster's state
 *  (cleanup removes it with the state; in the OS temp dir it outlived the cluster). A folder a killed
 *  launcher left there is removed first, so none of its files reach this ISO. */
export async function makeConfigDrive(isoPath: string, c: ConfigDrive): Promise<void> {
  const dir = `${isoPath}.d`;
  await rm(dir, { recursive: true, force: true });
  try {
    const latest = join(dir, 'openstack', 'latest');
    await mkdir(latest, { recursive: true });
    await writeFile(join(latest, 'meta_data.json'), metaData(c));
    if (c.userData) await writeFile(join(latest, 'user_data'), c.userData);
    if (c.files?.length) {
      await mkdir(join(dir, 'openstack', 'content'));
      for (const [n, f] of c.files.entries()) await writeFile(join(dir, 'openstack', contentPath(n)), Buffer.from(f.contents, 'base64'));
    }
    const env = Object.entries(c.environment ?? {});
    if (env.length) {
      await mkdir(join(dir, 'ciao'));
      await writeFile(join(dir, 'ciao', 'environment'), env.map(([k, v]) => `${k}=${v}\n`).join(''));
    }
    await run('genisoimage', ['-quiet', '-V', 'config-2', '-r', '-J', '-o', isoPath, dir]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
