// BAT image: private, public and internal images added, shown and deleted; deleting a missing
// image; the list count.
import t from 'tap';
import type { Test } from 'tap';
import { admin, refusal, unique, user, sideBySide } from '../lib.ts';

// Its tests share nothing they change: they run side by side (docs/bat.md).
sideBySide(t);

interface Image { id: string; name: string; visibility: string; status: string; size: number | null }
const list = async (client = admin) => (await client.call<{ images: Image[] }>('GET', '/image/v2/images')).images;

async function addImage(t: Test, visibility: string, client = admin): Promise<Image> {
  const image = await client.call<Image>('POST', '/image/v2/images', { name: unique(visibility), visibility, disk_format: 'raw', container_format: 'bare' });
  t.teardown(() => admin.call('DELETE', `/image/v2/images/${image.id}`).catch(() => undefined));
  await client.call('PUT', `/image/v2/images/${image.id}/file`, Buffer.from(`bat ${visibility} image\n`));
  return image;
}

for (const visibility of ['private', 'public', 'internal']) {
  t.test(`add, show and delete a ${visibility} image`, async (t) => {
    const client = visibility === 'private' ? user : admin;
    const image = await addImage(t, visibility, client);
    t.match(await client.call<Image>('GET', `/image/v2/images/${image.id}`), { id: image.id, visibility, status: 'active', size: Buffer.byteLength(`bat ${visibility} image\n`) });
    await client.call('DELETE', `/image/v2/images/${image.id}`);
    t.same(await refusal(client.call('GET', `/image/v2/images/${image.id}`)), { status: 404, code: 'not_found' });
  });
}

t.test('a user cannot add public or internal images, nor see internal ones', async (t) => {
  t.same(await refusal(user.call('POST', '/image/v2/images', { name: unique('x'), visibility: 'public' })), { status: 403, code: 'not_admin' });
  const internal = await addImage(t, 'internal');
  t.notOk((await list(user)).some((i) => i.id === internal.id));
});

t.test('deleting an image that does not exist is a 404', async (t) => {
  t.same(await refusal(admin.call('DELETE', '/image/v2/images/00000000-0000-0000-0000-000000000000')), { status: 404, code: 'not_found' });
});

t.test('the image list grows by the images added', async (t) => {
  const before = await list();
  const added = [await addImage(t, 'public'), await addImage(t, 'private')];
  const after = await list();
  // Other tests add and delete images of their own meanwhile (bat-… names, docs/bat.md): beyond
  // theirs, the list gained these two and lost nothing.
  const others = (i: Image) => i.name.startsWith('bat-') && !added.some((a) => a.id === i.id);
  const ids = (images: Image[]) => images.filter((i) => !others(i)).map((i) => i.id).sort();
  t.same(ids(after), [...ids(before), ...added.map((a) => a.id)].sort());
});
