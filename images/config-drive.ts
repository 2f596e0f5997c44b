// A cloud-init "config-2" config drive (OpenStack layout) as an ISO 9660 image: the instance's
// metadata (hostname = instance id) and its user data.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../shared/run.ts';
import { withTempDir } from '../shared/temp-dir.ts';

export interface ConfigDrive {
  instanceId: string;
  hostname: string;
  userData?: string;
}

export async function makeConfigDrive(isoPath: string, c: ConfigDrive): Promise<void> {
  await withTempDir('ciao-config-drive', async (dir) => {
    const latest = join(dir, 'openstack', 'latest');
    await mkdir(latest, { recursive: true });
    await writeFile(join(latest, 'meta_data.json'), JSON.stringify({ uuid: c.instanceId, name: c.hostname, hostname: c.hostname }) + '\n');
    if (c.userData) await writeFile(join(latest, 'user_data'), c.userData);
    await run('genisoimage', ['-quiet', '-V', 'config-2', '-r', '-J', '-o', isoPath, dir]);
  });
}
