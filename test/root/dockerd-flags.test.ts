// Needs root and dockerd: the dockerd setup starts when none answers (shared/dockerd.ts's flags)
// leaves the network namespace it runs in as it found it — on a fresh machine that is the host's,
// where IPv4 forwarding is off. Run here in a namespace of its own with forwarding off, on a socket
// and folders of its own (the flags' --host aside: a cluster's dockerd may answer there).
import t from 'tap';
import { join } from 'node:path';
import { run } from '../../shared/run.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { DOCKERD_FLAGS } from '../../shared/dockerd.ts';

t.test("setup's dockerd changes nothing of its network namespace: no link, no forwarding", async (t) => {
  const { path: dir, remove } = tempDir('ciao-dockerd-flags');
  t.teardown(remove);
  const flags = DOCKERD_FLAGS.filter((f) => !f.startsWith('--host='));
  const sock = `unix://${join(dir, 'docker.sock')}`;
  // One shell in a new network namespace: forwarding off, dockerd up until it answers, the state
  // read, dockerd stopped. (A new namespace starts with forwarding as the host has it.)
  const script = `
    set -eu
    sysctl -qw net.ipv4.ip_forward=0
    ip -o link >"$D/links.before"
    dockerd "$@" --host="$SOCK" --data-root="$D/data" --exec-root="$D/exec" --pidfile="$D/pid" >"$D/log" 2>&1 &
    pid=$!
    up=0
    for _ in $(seq 300); do if docker -H "$SOCK" version >/dev/null 2>&1; then up=1; break; fi; sleep 0.1; done
    cat /proc/sys/net/ipv4/ip_forward
    ip -o link >"$D/links.after"
    kill "$pid"; wait "$pid" || true
    [ "$up" = 1 ] || { tail -n 20 "$D/log" >&2; exit 1; }`;
  const r = await run('unshare', ['-n', 'bash', '-c', script, 'dockerd-flags', ...flags], { env: { ...process.env, D: dir, SOCK: sock }, timeout: 60_000 });
  t.equal(r.stdout.trim(), '0', 'IPv4 forwarding still off while dockerd runs');
  const [before, after] = await Promise.all(['before', 'after'].map((w) => run('cat', [join(dir, `links.${w}`)])));
  t.equal(after.stdout, before.stdout, 'no link added (no docker0)');
});
