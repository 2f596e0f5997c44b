// ipBatch (network/ip.ts): `ip -batch` splits its lines at blanks and reads quotes, backslashes and
// `#`, so an argument that is not a plain name or address is refused before anything runs.
import t from 'tap';
import { ipBatch } from '../../network/ip.ts';

t.test('arguments that ip would read otherwise are refused, naming the argument', async (t) => {
  for (const bad of ['a b', 'x"y', "x'y", 'a\nlink del lo', 'tap\\0', 'name#comment', '', 'dev\t1']) {
    await t.rejects(ipBatch('ciao-nonexistent-ns', [['link', 'set', bad, 'up']]), { message: /not a plain name or address/ }, JSON.stringify(bad));
  }
});

t.test('names, addresses, MACs and CIDRs pass the check (then ip runs, here in a namespace that is not there)', async (t) => {
  await t.rejects(
    ipBatch('ciao-nonexistent-ns', [['link', 'add', 'cn0123456789', 'type', 'veth', 'peer', 'name', 'uplink', 'address', '02:ce:01:23:45:67', 'netns', 'ciao-x-cnci-0123']], ),
    { message: /failed/ }, 'ip itself fails: the check let it through');
});

t.test('an empty batch runs nothing', async (t) => {
  await t.resolves(ipBatch('ciao-nonexistent-ns', []));
});
