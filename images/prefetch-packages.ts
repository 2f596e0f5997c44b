// The VM image's Debian packages (images/vm-image.ts), downloaded and unpacked into the image cache
// ahead of setup: install-system-deps.sh runs this while apt installs the cluster's tools on a fresh
// machine, so setup's image step finds them there instead of downloading them on its critical path.
//   node --import tsx images/prefetch-packages.ts
import { homedir } from 'node:os';
import { join } from 'node:path';
import { unpackPackages } from './debian-packages.ts';
import { vmImagePackages } from './vm-image.ts';

const cacheDir = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ciao', 'images');
const packages = await vmImagePackages(cacheDir);
const dirs = await unpackPackages(join(cacheDir, 'debs'), packages);
console.log(`${[...dirs.values()].join('\n')}\n(${dirs.size} packages in ${join(cacheDir, 'debs')})`);
