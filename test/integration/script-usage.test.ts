// Every script answers a bad option with what is wrong and its usage line, exit 2 — never a stack
// trace (SPEC §2); --help prints the whole usage and exits 0; every one takes --name.
import t from 'tap';
import { join } from 'node:path';
import { run } from '../../shared/run.ts';
import { REPO_ROOT } from '../../singlevm/processes.ts';

const SCRIPTS = ['singlevm/setup.sh', 'singlevm/verify.sh', 'singlevm/stop.sh', 'singlevm/cleanup.sh', 'singlevm/logs.sh', 'singlevm/join.sh', 'singlevm/node.sh', 'bat/run.sh'];
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CIAO_')));

for (const script of SCRIPTS) {
  t.test(`${script}: a bad option is one reason and the usage line, exit 2; --help is the usage, exit 0`, async (t) => {
    const bad = await run(join(REPO_ROOT, script), ['--no-such-option'], { env, allowFailure: true });
    t.equal(bad.exitCode, 2);
    const lines = bad.stderr.trim().split('\n').filter((l) => !/^installing|apt|Reading|Building/.test(l));
    t.match(lines.at(-2), /Unknown option '--no-such-option'/);
    t.match(lines.at(-1), /^usage: \S+ \[--name NAME\]/, 'the usage line names --name');
    t.notMatch(bad.stderr, /\n\s+at /, 'no stack trace');
    const help = await run(join(REPO_ROOT, script), ['--help'], { env, allowFailure: true });
    t.equal(help.exitCode, 0);
    t.match(help.stdout, /--name NAME/);
    t.equal((await run(join(REPO_ROOT, script), ['--name', 'Not_Valid'], { env, allowFailure: true })).exitCode, 2, 'a bad name is a usage error');
  });
}

t.test('setup.sh: the --egress options are checked before anything runs', async (t) => {
  const setup = (...args: string[]) => run(join(REPO_ROOT, 'singlevm/setup.sh'), args, { env, allowFailure: true });
  for (const [args, reason] of [
    [['--egress-allow-host', '8080'], /--egress-allow-host and --egress-dns go with --egress/],
    [['--egress', '--simulate'], /--egress is for the real cluster/],
    [['--egress', '--egress-allow-host', '70000'], /--egress-allow-host "70000": a port is a number from 1 to 65535/],
    [['--egress', '--egress-allow-host', '80,x'], /--egress-allow-host "x"/],
    [['--egress', '--egress-dns', 'resolver.example'], /--egress-dns "resolver\.example": an IPv4 address, optionally with #PORT/],
    [['--egress', '--egress-dns', '127.0.0.1#0'], /--egress-dns "127\.0\.0\.1#0"/],
  ] as const) {
    const r = await setup(...args);
    t.equal(r.exitCode, 2, args.join(' '));
    t.match(r.stderr, reason, args.join(' '));
  }
});

t.test('setup.sh --export-join and join.sh: their arguments are checked before anything runs', async (t) => {
  const script = (name: string, ...args: string[]) => run(join(REPO_ROOT, name), args, { env, allowFailure: true });
  for (const [args, reason] of [
    [['--export-join', '/tmp/x.json'], /--underlay IFACE is required/],
    [['--export-join', '/tmp/x.json', '--underlay', 'eth0', '--address', '192.0.2.1'], /--address: an IPv4 address with a prefix/],
    [['--export-join', '/tmp/x.json', '--underlay', 'eth0', '--address', '192.0.2.1/24', '--join-address', '192.0.3.1'], /is not in 192\.0\.2\.1\/24/],
    [['--export-join', '/tmp/x.json', '--underlay', 'eth0', '--address', '192.0.2.1/24', '--join-address', '192.0.2.2', '--valid-for', '3d'], /--valid-for: a duration/],
    [['--export-join', '/tmp/x.json', '--underlay', 'eth0;reboot', '--address', '192.0.2.1/24', '--join-address', '192.0.2.2'], /an interface name/],
  ] as const) {
    const r = await script('singlevm/setup.sh', ...args);
    t.equal(r.exitCode, 2, args.join(' '));
    t.match(r.stderr, reason, args.join(' '));
  }
  const none = await script('singlevm/setup.sh', '--name', 'nosuchjoin', '--export-join', '/tmp/x.json', '--underlay', 'eth0', '--address', '192.0.2.1/24', '--join-address', '192.0.2.2');
  t.equal(none.exitCode, 1);
  t.match(none.stderr, /no cluster nosuchjoin here/);
  t.match((await script('singlevm/join.sh', '/no/such/bundle.json', '--underlay', 'eth0')).stderr, /cannot read \/no\/such\/bundle\.json/);
  t.match((await script('singlevm/join.sh', '--leave', '--name', 'nosuchjoin')).stdout, /nothing of cluster nosuchjoin was joined here/);
});

t.test('node.sh: a missing or unknown command, a misplaced option, a bad role are usage errors before anything is read', async (t) => {
  const node = (...args: string[]) => run(join(REPO_ROOT, 'singlevm/node.sh'), [...args, '--name', 'nosuch'], { env, allowFailure: true });
  for (const [args, why] of [[[], /add, remove or list\?/], [['grow'], /no command "grow"/], [['remove'], /remove needs the node's ID/],
    [['add', '--role', 'storage'], /--role must be compute, network or dual/], [['add', '--drain'], /--drain and --force go with remove/],
    [['remove', 'x', '--simulated'], /--role and --simulated go with add/], [['remove', 'x', '--timeout', 'soon'], /--timeout must be a number/],
    [['add', 'extra'], /unexpected "extra"/]] as const) {
    const r = await node(...args);
    t.equal(r.exitCode, 2, args.join(' '));
    t.match(r.stderr, why);
  }
  const none = await node('add');
  t.equal(none.exitCode, 1);
  t.match(none.stderr, /there is no cluster nosuch/);
});
