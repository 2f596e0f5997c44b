// The first boot's user data (a shell script on the VM's config drive, run once by the image's
// ccloudvm-firstboot unit): name, SSH key, disk size, the user's proxy for every tool, the shared
// project tree, and the cluster's packages (apt, through the proxy).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../shared/run.ts';
import { withTempDir } from '../shared/temp-dir.ts';
import { SEED_LABEL, STARTED_BY_FIRST_BOOT } from './image.ts';
import { guestProxyFiles, proxyVariables, type ProxySettings } from './proxy.ts';
import { SHARE_TAG } from './vm.ts';

/** Package lists younger than this (the image's) are used as they are at the first boot. */
export const LISTS_MAX_AGE_DAYS = 7;

export interface Provision {
  name: string;
  publicKey: string;
  /** The project tree's path, on the host and inside. */
  share: string;
  proxy: ProxySettings;
  /** Extra variables for every login (e.g. how much slower than bare metal the VM is). */
  environment: Record<string, string>;
}

/** A here-document that writes `text` to `path` (the marker cannot occur in our files). */
const fileCommand = (path: string, text: string) =>
  `mkdir -p "$(dirname ${path})"\ncat > ${path} <<'CCLOUDVM_EOF'\n${text.replace(/\n$/, '')}\nCCLOUDVM_EOF`;

export function userData(p: Provision): string {
  const environment = [...proxyVariables(p.proxy), ...Object.entries(p.environment)].map(([k, v]) => `${k}=${v}`).join('\n') + '\n';
  const files = { '/etc/environment': environment, ...guestProxyFiles(p.proxy) };
  return [
    '#!/bin/bash',
    `# ccloudvm first boot of ${p.name}`,
    'set -euxo pipefail',
    `echo ${p.name} > /etc/hostname && hostname ${p.name}`,
    `sed -i 's/\\bccloudvm$/${p.name}/' /etc/hosts`,
    fileCommand('/root/.ssh/authorized_keys', p.publicKey),
    'chmod 700 /root/.ssh && chmod 600 /root/.ssh/authorized_keys',
    'resize2fs "$(findmnt -no SOURCE /)"',
    ...Object.entries(files).map(([path, text]) => fileCommand(path, text)),
    `mkdir -p '${p.share}'`,
    `grep -q '^${SHARE_TAG} ' /etc/fstab || echo '${SHARE_TAG} ${p.share} virtiofs defaults,nofail 0 0' >> /etc/fstab`,
    `mountpoint -q '${p.share}' || mount '${p.share}'`,
    'set -a && . /etc/environment && set +a',
    // Docker's daemon takes its proxy from its unit's environment (the drop-in above): the image
    // leaves it off until now, so it starts once, with the proxy. Enabling reloads systemd (which
    // reads the drop-in); the start goes on in the background (its socket answers meanwhile, and
    // a docker command waits for the daemon).
    `systemctl enable --quiet ${STARTED_BY_FIRST_BOOT.join(' ')}`,
    'systemctl restart --no-block docker.service',
    // The image holds package lists: refreshed (through the proxy) only when they are older than
    // LISTS_MAX_AGE_DAYS — checking them costs a minute of an emulated CPU even when nothing changed.
    `if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_InRelease' -mtime -${LISTS_MAX_AGE_DAYS})" ]; then apt-get update; fi`,
    `'${p.share}/scripts/install-system-deps.sh' --cluster`,
    '',
  ].join('\n');
}

/** The config drive (ISO 9660, label cidata) holding the user data and its metadata. */
export async function makeSeed(isoPath: string, p: Provision): Promise<void> {
  await withTempDir('ccloudvm-seed', async (dir) => {
    await writeFile(join(dir, 'user-data'), userData(p), { mode: 0o755 });
    await writeFile(join(dir, 'meta-data'), `instance-id: ${p.name}\nlocal-hostname: ${p.name}\n`);
    await run('genisoimage', ['-quiet', '-V', SEED_LABEL, '-r', '-J', '-o', isoPath, dir]);
  });
}
