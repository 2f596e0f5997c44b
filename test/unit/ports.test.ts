// A cluster's daemons' ports (singlevm/ports.ts): free, and below the kernel's ephemeral range, so
// that no outgoing connection takes one between setup's choice and the daemon's bind.
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { daemonPort, ephemeralRange, portIsFree } from '../../singlevm/ports.ts';
import { tempDir } from '../../shared/temp-dir.ts';

t.test('the ephemeral range is read from the kernel, and a file it cannot read gives the kernel\'s default', async (t) => {
  const { path, remove } = tempDir('ciao-ports');
  t.teardown(remove);
  const file = join(path, 'range');
  writeFileSync(file, '40000\t50000\n');
  t.same(await ephemeralRange(file), [40_000, 50_000]);
  writeFileSync(file, 'nonsense\n');
  t.same(await ephemeralRange(file), [32_768, 60_999], 'unreadable: the default');
  t.same(await ephemeralRange(join(path, 'none')), [32_768, 60_999], 'missing: the default');
});

t.test('a daemon\'s port is free and below the ephemeral range; a port in use is passed over', async (t) => {
  const [low] = await ephemeralRange();
  for (let i = 0; i < 20; i++) {
    const port = await daemonPort();
    t.ok(port >= 10_000 && port < low, `${port} is below the ephemeral range (from ${low})`);
  }
  // The first pick is a port in use: the next one is taken.
  const inUse = 10_000 + 7;
  const holder = net.createServer().listen(inUse, '127.0.0.1');
  const held = await once(holder, 'listening').then(() => true, () => false);
  t.teardown(() => holder.close());
  const span = low - 10_000;
  const picks = [7.5 / span, 9.5 / span];
  const port = await daemonPort('127.0.0.1', () => picks.shift() ?? 0.5);
  t.equal(port, held ? 10_009 : 10_007, held ? 'the port in use is passed over' : 'the first free pick');
  t.ok(await portIsFree(port), 'and it is free');
});
