// Debian packages as the image builders use them: downloaded with apt-get (no install), unpacked
// with dpkg-deb into a cache folder per package version, so a second build downloads nothing.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, access, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { run } from '../shared/run.ts';

const exists = (p: string) => access(p).then(() => true, () => false);

/** Which apt answers the questions and downloads: the host's by default; the ccloudvm base image's
 *  build asks the apt of the tree it builds (a chroot), whose lists the VM will have at `/`. */
export interface Apt {
  /** The filesystem root apt's lists and preferences are under. */
  root: string;
  /** `apt-cache ARGS`'s output. */
  cache(args: string[]): Promise<string>;
  /** `apt-get download SPEC` into `dir`. */
  download(spec: string, dir: string): Promise<void>;
}

export const HOST_APT: Apt = {
  root: '/',
  cache: async (args) => (await run('apt-cache', args)).stdout,
  download: async (spec, dir) => void await run('apt-get', ['download', spec], { cwd: dir }),
};

/** apt's answers depend on its package lists and its pinning: the lists' Release files (InRelease or
 *  Release: they name every list of theirs by hash) and the preferences, hashed by content. The same
 *  lists under another root (a chroot whose disk becomes a VM's `/`) give the same stamp; an
 *  `apt-get update` that fetched something new gives another. */
export async function listsStamp(root = '/'): Promise<string> {
  const h = createHash('sha256');
  const lists = join(root, 'var/lib/apt/lists');
  const prefsDir = join(root, 'etc/apt/preferences.d');
  const files = [
    ...(await readdir(lists).catch(() => [] as string[])).filter((f) => f.endsWith('Release')).sort().map((f) => join(lists, f)),
    join(root, 'etc/apt/preferences'),
    ...(await readdir(prefsDir).catch(() => [] as string[])).sort().map((f) => join(prefsDir, f)),
  ];
  for (const f of files) {
    const text = await readFile(f).catch(() => undefined);
    // By its path under the root (`/` in the VM, the chroot's folder while the image is built).
    if (text) h.update(`${relative(root, f)}\0`).update(text).update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

/** One question to apt, by its key: `version PKG` (the candidate, e.g. "6.1.192-2") or
 *  `depends META PREFIX` (the package META depends on whose name starts with PREFIX). */
async function ask(key: string, apt: Apt): Promise<string> {
  const [kind, pkg, prefix] = key.split(' ');
  if (kind === 'version') {
    const m = /Candidate:\s+(\S+)/.exec(await apt.cache(['policy', pkg]));
    if (!m || m[1] === '(none)') throw new Error(`Debian package ${pkg} is not known to apt: run apt-get update`);
    return m[1];
  }
  if (kind === 'depends' && prefix) {
    const out = await apt.cache(['depends', pkg]);
    const dep = out.split('\n').map((l) => l.trim().replace(/^Depends:\s*/, '')).find((l) => l.startsWith(prefix) && l !== pkg);
    if (!dep) throw new Error(`cannot tell which ${prefix}* package ${pkg} depends on`);
    return dep;
  }
  throw new Error(`no such apt question: ${key}`);
}

interface Answers { stamp: string; answers: Record<string, string> }
const answersFile = (cacheDir: string) => join(cacheDir, 'apt-answers.json');

async function keepAnswers(cacheDir: string, known: Answers): Promise<void> {
  const file = answersFile(cacheDir);
  await mkdir(cacheDir, { recursive: true });
  await writeFile(`${file}.${process.pid}`, JSON.stringify(known));
  await rename(`${file}.${process.pid}`, file);
}

/** apt's answers depend only on its lists (listsStamp): remembered until those change (a warm setup asks apt nothing). */
async function remembered(cacheDir: string, key: string, apt: Apt): Promise<string> {
  const stamp = await listsStamp(apt.root);
  const known = await readFile(answersFile(cacheDir), 'utf8').then((s) => JSON.parse(s) as Answers, () => undefined);
  const answers = known?.stamp === stamp ? known.answers : {};
  if (answers[key]) return answers[key];
  answers[key] = await ask(key, apt);
  await keepAnswers(cacheDir, { stamp, answers });
  return answers[key];
}

/** The version apt would install, e.g. "6.1.192-2". */
export function candidateVersion(pkg: string, cacheDir: string, apt = HOST_APT): Promise<string> {
  return remembered(cacheDir, `version ${pkg}`, apt);
}

/** The versioned package a meta-package points at (linux-image-cloud-amd64 → linux-image-6.1.0-…-cloud-amd64). */
export function resolveMetaPackage(meta: string, prefix: string, cacheDir: string, apt = HOST_APT): Promise<string> {
  return remembered(cacheDir, `depends ${meta} ${prefix}`, apt);
}

/** Unpacks each package (downloaded once) into <cache>/<pkg>_<version>/ and returns those folders. */
export async function unpackPackages(cacheDir: string, packages: string[], apt = HOST_APT): Promise<Map<string, string>> {
  await mkdir(cacheDir, { recursive: true });
  const out = new Map<string, string>();
  for (const pkg of packages) {
    const version = await candidateVersion(pkg, cacheDir, apt);
    const dir = join(cacheDir, `${pkg}_${version.replace(/[:/]/g, '_')}`);
    if (!(await exists(dir))) {
      const work = `${dir}.partial`;
      await rm(work, { recursive: true, force: true });
      await mkdir(work, { recursive: true });
      await apt.download(`${pkg}=${version}`, work);
      const deb = (await readdir(work)).find((f) => f.endsWith('.deb'));
      if (!deb) throw new Error(`apt-get download ${pkg} produced no .deb`);
      await run('dpkg-deb', ['-x', join(work, deb), join(work, 'root')]);
      await rename(join(work, 'root'), dir);
      await rm(work, { recursive: true, force: true });
    }
    out.set(pkg, dir);
  }
  return out;
}
