"""python-openstackclient's `openstack` command, for one caller, many commands over one process.

The `openstack` command spends most of a short command starting Python, importing the client and
logging in. This driver imports openstackclient once, then runs each command asked for in a child
forked from that warm process: the child runs openstackclient's own `main(argv)`, as the command
would, with its stdout and stderr in files of its own, so commands run side by side and one that
fails or hangs touches no other. The token one command got is handed to the commands started after
it (keystoneauth's get_auth_state/set_auth_state, keyed by the credentials' cache id), as the
interactive `openstack` shell reuses its token.

Protocol (docs/bat.md, "openstack-cli: one client process"): one JSON object a line each way.
  stdin:  {"id": 7, "argv": ["server", "show", "x", "-f", "json"], "timeoutMs": 180000}
  stdout: {"id": 7, "exitCode": 0, "stdout": "...", "stderr": "...", "timedOut": false}
Answers come as commands end, in any order. A line that is not a request ends the driver (exit 2,
the reason on stderr). End of stdin kills the commands still running, and the driver exits 0.
"""
import argparse
import ctypes
import inspect
import json
import os
import selectors
import shutil
import signal
import sys
import tempfile
import time
import traceback

# Run as a script, Python puts this file's folder first on sys.path: nothing there is for the client.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

PR_SET_PDEATHSIG = 1
# openstackclient imports these inside its make_client functions, on a command's first call.
DEFERRED_CLIENT_MODULES = ('novaclient.client', 'novaclient.v2.client', 'cinderclient.client', 'cinderclient.v3.client',
                           'keystoneclient.v3.client', 'glanceclient.client')


def preload():
    """Imports what any command will: the client, its commands and the client libraries."""
    import importlib
    from importlib.metadata import entry_points
    from openstackclient import shell
    shell.OpenStackShell()  # reads the entry points once; stevedore keeps them in memory
    eps = entry_points()
    for group in (g for g in eps.groups if g.startswith('openstack.')):
        for ep in eps.select(group=group):
            try:
                ep.load()
            except Exception:  # a command that cannot load fails in its own child, with its error
                pass
    for name in DEFERRED_CLIENT_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    return shell


def set_wait_poll(seconds):
    """`--wait` polls every 5 s (osc_lib's wait_for_status), wait_for_delete every 2 s: poll every `seconds`."""
    from osc_lib import utils
    for fn in (utils.wait_for_status, utils.wait_for_delete):
        params = list(inspect.signature(fn).parameters.values())
        with_default = [p for p in params if p.default is not inspect.Parameter.empty]
        if 'sleep_time' not in (p.name for p in with_default):
            raise SystemExit(f'openstack-driver: {fn.__name__} has no sleep_time default to change')
        fn.__defaults__ = tuple(seconds if p.name == 'sleep_time' else p.default for p in with_default)


class Tokens:
    """The tokens commands got, by the cache id of their credentials; a child starts with them."""

    def __init__(self):
        self.by_cache_id = {}
        self.plugins = []  # in a child: the auth plugins its command made

    def install(self):
        """In a child: the auth plugin openstacksdk builds for the command starts with a token we hold."""
        from openstack.config import cloud_region
        get_auth = cloud_region.CloudRegion.get_auth
        tokens = self

        def get_auth_with_token(region):
            plugin = get_auth(region)
            if plugin is not None and plugin not in tokens.plugins:
                tokens.plugins.append(plugin)
                state = tokens.by_cache_id.get(cache_id(plugin))
                if state and getattr(plugin, 'auth_ref', None) is None:
                    plugin.set_auth_state(state)
            return plugin
        cloud_region.CloudRegion.get_auth = get_auth_with_token

    def gathered(self):
        """In a child, once its command ended: the tokens its plugins hold."""
        out = {}
        for plugin in self.plugins:
            key = cache_id(plugin)
            state = plugin.get_auth_state() if key and getattr(plugin, 'auth_ref', None) else None
            if state:
                out[key] = state
        return out


def cache_id(plugin):
    try:
        return plugin.get_cache_id()
    except Exception:  # a plugin that cannot say who it is gets no token handed on
        return None


def run_child(shell, tokens, argv, files, driver_pid, driver_fds):
    """In the forked child: the command, as /usr/bin/openstack runs it; never returns."""
    code = 1
    try:
        for fd in driver_fds:  # the driver's answers, its selector and its other commands are not the child's
            os.close(fd)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the driver killed: its commands go too
        if os.getppid() != driver_pid:  # it died before prctl
            os._exit(137)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        for fd, path in ((1, files['stdout']), (2, files['stderr'])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
        sys.argv = [sys.argv[0], *argv]
        tokens.install()
        try:
            code = shell.main(list(argv))
        except SystemExit as exit_:
            code = exit_.code
        if isinstance(code, str):
            print(code, file=sys.stderr)
            code = 1
        code = 0 if code is None else int(code)
        with open(files['tokens'], 'w') as f:
            json.dump(tokens.gathered(), f)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code & 0xFF)


def parse_request(line):
    try:
        req = json.loads(line)
    except ValueError as err:
        raise ValueError(f'not JSON ({err}): {line[:200]!r}') from None
    ok = (isinstance(req, dict) and type(req.get('id')) is int
          and isinstance(req.get('argv'), list) and all(isinstance(a, str) for a in req['argv'])
          and (req.get('timeoutMs') is None or (type(req['timeoutMs']) in (int, float) and req['timeoutMs'] > 0)))
    if not ok:
        raise ValueError(f'not a request {{"id": int, "argv": [str, ...], "timeoutMs"?: number > 0}}: {line[:200]!r}')
    return req


def read_text(path):
    try:
        with open(path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')
    except FileNotFoundError:
        return ''


class Driver:
    def __init__(self, shell, frames, workdir):
        self.shell, self.frames, self.workdir = shell, frames, workdir
        self.tokens = Tokens()
        self.sel = selectors.EpollSelector()  # Linux, as pidfd_open and PR_SET_PDEATHSIG are
        self.running = {}  # pid -> job

    def start(self, req):
        if any(job['id'] == req['id'] for job in self.running.values()):
            raise ValueError(f"request {req['id']} is running already")
        base = os.path.join(self.workdir, str(req['id']))
        files = {k: f'{base}.{k}' for k in ('stdout', 'stderr', 'tokens')}
        for stream in (sys.stdout, sys.stderr):
            stream.flush()  # nothing buffered here may be written again by the child
        driver_pid = os.getpid()
        pid = os.fork()
        if pid == 0:
            driver_fds = [self.frames.fileno(), self.sel.fileno(), *(job['pidfd'] for job in self.running.values())]
            run_child(self.shell, self.tokens, req['argv'], files, driver_pid, driver_fds)
        timeout = req.get('timeoutMs')
        job = {'id': req['id'], 'pid': pid, 'files': files, 'timedOut': False,
               'deadline': time.monotonic() + timeout / 1000 if timeout else None,
               'pidfd': os.pidfd_open(pid)}
        self.running[pid] = job
        self.sel.register(job['pidfd'], selectors.EVENT_READ, job)

    def finish(self, job):
        self.sel.unregister(job['pidfd'])
        os.close(job['pidfd'])
        _, status = os.waitpid(job['pid'], 0)
        del self.running[job['pid']]
        files = job['files']
        try:
            with open(files['tokens']) as f:
                self.tokens.by_cache_id.update(json.load(f))
        except (FileNotFoundError, ValueError):
            pass
        self.send({'id': job['id'], 'exitCode': os.waitstatus_to_exitcode(status), 'stdout': read_text(files['stdout']),
                   'stderr': read_text(files['stderr']), 'timedOut': job['timedOut']})
        for path in files.values():
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def send(self, frame):
        self.frames.write(json.dumps(frame) + '\n')
        self.frames.flush()

    def kill_overdue(self):
        now = time.monotonic()
        for job in self.running.values():
            if job['deadline'] is not None and now >= job['deadline'] and not job['timedOut']:
                job['timedOut'] = True
                os.kill(job['pid'], signal.SIGKILL)

    def next_timeout(self):
        deadlines = [j['deadline'] for j in self.running.values() if j['deadline'] is not None and not j['timedOut']]
        return max(0, min(deadlines) - time.monotonic()) if deadlines else None

    def serve(self, requests_fd):
        try:
            self.loop(requests_fd)
        finally:
            self.stop()

    def loop(self, requests_fd):
        self.sel.register(requests_fd, selectors.EVENT_READ, None)
        pending = b''
        while True:
            for key, _ in self.sel.select(self.next_timeout()):
                if key.data is not None:
                    self.finish(key.data)
                    continue
                chunk = os.read(requests_fd, 65536)
                if not chunk:
                    return
                pending += chunk
                *lines, pending = pending.split(b'\n')
                for line in lines:
                    if line.strip():
                        self.start(parse_request(line.decode('utf-8')))
            self.kill_overdue()

    def stop(self):
        """The caller is gone or done: the commands still running are of no use to anyone."""
        for job in list(self.running.values()):
            os.kill(job['pid'], signal.SIGKILL)
            os.waitpid(job['pid'], 0)
            os.close(job['pidfd'])
        self.running.clear()


def main():
    parser = argparse.ArgumentParser(description='Runs openstack commands for one caller (JSON lines on stdin and stdout).')
    parser.add_argument('--wait-poll-seconds', type=float, help="how often --wait polls (openstackclient's default: 5 s; deletes 2 s)")
    parser.add_argument('--workdir', help="where each command's output is kept while it runs (a folder made in it; default: the temp dir)")
    opts = parser.parse_args()
    # cliff names the program from sys.argv[0] when it is imported (help, --version, errors).
    sys.argv = [shutil.which('openstack') or 'openstack']
    # The frames get stdout to themselves: whatever else writes to fd 1 here goes to stderr.
    frames = os.fdopen(os.dup(1), 'w', encoding='utf-8')
    os.dup2(2, 1)
    shell = preload()
    if opts.wait_poll_seconds is not None:
        set_wait_poll(opts.wait_poll_seconds)
    with tempfile.TemporaryDirectory(prefix='openstack-driver-', dir=opts.workdir) as workdir:
        try:
            Driver(shell, frames, workdir).serve(sys.stdin.fileno())
        except ValueError as err:
            print(f'openstack-driver: {err}', file=sys.stderr)
            return 2
        except BrokenPipeError:
            return 0
    return 0


if __name__ == '__main__':
    sys.exit(main())
