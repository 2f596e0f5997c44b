// images/debian-packages.ts: apt's answers kept by a stamp of its lists' Release files and its
// pinning, by content: the same lists under another root (ccloudvm's base image, built in a
// chroot) give the same stamp, so answers kept there hold in the VM; new lists ask again.
import t from 'tap';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { candidateVersion, listsStamp, resolveMetaPackage, type Apt } from '../../images/debian-packages.ts';

async function aptRoot(dir: string, release: string) {
  await mkdir(join(dir, 'var/lib/apt/lists'), { recursive: true });
  await writeFile(join(dir, 'var/lib/apt/lists/mirror_dists_bookworm_InRelease'), release);
  await writeFile(join(dir, 'var/lib/apt/lists/mirror_dists_bookworm_main_binary-amd64_Packages'), `Package: x (${dir})\n`);
  await writeFile(join(dir, 'var/lib/apt/lists/lock'), '');
  return dir;
}

/** An apt that answers from a table and counts the questions. */
function fakeApt(root: string, candidates: Record<string, string>) {
  const asked: string[] = [];
  const apt: Apt = {
    root,
    async cache(args) {
      asked.push(args.join(' '));
      if (args[0] === 'policy') return `${args[1]}:\n  Installed: (none)\n  Candidate: ${candidates[args[1]] ?? '(none)'}\n`;
      return `${args[1]}\n  Depends: linux-image-6.1.0-9-cloud-amd64\n  Depends: initramfs-tools\n`;
    },
    async download() {
      throw new Error('no downloads here');
    },
  };
  return { apt, asked };
}

t.test('the stamp is of the Release files and preferences by content, whatever the root', async (t) => {
  const dir = t.testdir();
  const a = await aptRoot(join(dir, 'a'), 'Date: Mon, 01 Dec 2026\nSHA256: 1\n');
  const b = await aptRoot(join(dir, 'b'), 'Date: Mon, 01 Dec 2026\nSHA256: 1\n');
  t.equal(await listsStamp(a), await listsStamp(b), 'the same Release under two roots (the Packages files, named by the Release, are not read)');
  t.equal(await listsStamp(`${a}/`), await listsStamp(a), 'a root written with its slash (the VM\'s is "/") is the same root');
  const c = await aptRoot(join(dir, 'c'), 'Date: Tue, 02 Dec 2026\nSHA256: 2\n');
  t.not(await listsStamp(c), await listsStamp(a), 'lists updated since: another stamp');
  await mkdir(join(b, 'etc/apt/preferences.d'), { recursive: true });
  await writeFile(join(b, 'etc/apt/preferences.d/kernel'), 'Package: linux-image-*\nPin: release a=bookworm-backports\nPin-Priority: 900\n');
  t.not(await listsStamp(b), await listsStamp(a), 'a pin changes the candidates: another stamp');
});

t.test('answers are asked once per stamp, and again when the lists change', async (t) => {
  const dir = t.testdir();
  const root = await aptRoot(join(dir, 'root'), 'Date: one\n');
  const cache = join(dir, 'cache');
  const { apt, asked } = fakeApt(root, { 'busybox-static': '1:1.35.0-4' });
  t.equal(await candidateVersion('busybox-static', cache, apt), '1:1.35.0-4');
  t.equal(await resolveMetaPackage('linux-image-cloud-amd64', 'linux-image-', cache, apt), 'linux-image-6.1.0-9-cloud-amd64');
  t.equal(await candidateVersion('busybox-static', cache, apt), '1:1.35.0-4');
  t.same(asked, ['policy busybox-static', 'depends linux-image-cloud-amd64'], 'the second question of a kind is answered from the file');
  const kept = JSON.parse(await readFile(join(cache, 'apt-answers.json'), 'utf8'));
  t.equal(kept.stamp, await listsStamp(root), 'kept with the stamp of the lists they came from');

  // The same lists seen at another root (the VM's "/" after the image was built in a chroot).
  const same = await aptRoot(join(dir, 'vm'), 'Date: one\n');
  const inVm = fakeApt(same, {});
  t.equal(await candidateVersion('busybox-static', cache, inVm.apt), '1:1.35.0-4');
  t.same(inVm.asked, [], 'nothing asked: the lists are the same');

  await writeFile(join(same, 'var/lib/apt/lists/mirror_dists_bookworm_InRelease'), 'Date: two\n');
  const updated = fakeApt(same, { 'busybox-static': '1:1.35.0-5' });
  t.equal(await candidateVersion('busybox-static', cache, updated.apt), '1:1.35.0-5', 'new lists: asked again');
  t.same(updated.asked, ['policy busybox-static']);
  await t.rejects(candidateVersion('nothing', cache, updated.apt), /not known to apt/);
});
