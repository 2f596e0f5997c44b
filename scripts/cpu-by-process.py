#!/usr/bin/env python3
# cpu-by-process.py CMD [ARGS...]: runs CMD (its output to /tmp/cpu-sample-cmd.log), samples every
# process's CPU time (utime + stime, /proc/PID/stat) every 0.2 s meanwhile, and prints the CPU-seconds
# each kind of process used: QEMU, the cluster's daemons, BAT's suites, ... (docs/bat.md, "where the
# CPU goes"). A process that lives less than a sample is missed: the figures are lower bounds.
import os, re, subprocess, sys, time, collections
def snap():
    d = {}
    for p in os.listdir('/proc'):
        if not p.isdigit(): continue
        try:
            s = open(f'/proc/{p}/stat').read()
            m = re.match(r'(\d+) \((.*)\) (.*)', s, re.S); f = m.group(3).split()
            d[int(p)] = (m.group(2), int(f[11]) + int(f[12]))
        except Exception: pass
    return d
cmd = {}
def kind(pid, name):
    # Keyed by the name too: a child forked by node or ip is named so until it execs what it runs
    # (QEMU is started as `ip netns exec … qemu-system-x86_64`), and is classified again then.
    if (pid, name) not in cmd:
        try: c = open(f'/proc/{pid}/cmdline').read().split('\0')
        except Exception: c = [name]
        k = name
        # A cluster's VM is named ciao-<cluster>-<instance id>: its QEMU is told from other QEMUs on the machine.
        if name.startswith('qemu-system'):
            m = re.search(r'\0-name\0ciao-(.+?)-[0-9a-f]{8}-[0-9a-f]{4}-', '\0'.join(c))
            k = f'{name} ciao-{m.group(1)}' if m else f'{name} (not a cluster VM)'
        if name == 'node':
            j = ' '.join(c)
            m = re.search(r'(controller|scheduler|launcher|identity)[-/.]', j)
            if '--cluster' in j and m: k = 'node:' + m.group(1)
            elif 'bat/suites/' in j or '_bundles/bat/' in j: k = 'node:bat-suite'
            elif 'bat/run' in j or 'bat-run' in j: k = 'node:bat-runner'
            elif 'tap' in j: k = 'node:tap'
            else: k = 'node:other ' + j[:80]
        cmd[(pid, name)] = k
    return cmd[(pid, name)]
base = snap()
for pid, (n, t) in base.items(): kind(pid, n)
proc = subprocess.Popen(sys.argv[1:], stdout=open('/tmp/cpu-sample-cmd.log', 'w'), stderr=subprocess.STDOUT)
last = {}
while proc.poll() is None:
    for pid, (n, t) in snap().items():
        k = kind(pid, n)
        # The kind it has now (what it exec'd last) is the kind of all its CPU time.
        if pid not in last or t >= last[pid][1]: last[pid] = (k, t)
    time.sleep(0.2)
by = collections.Counter(); count = collections.Counter()
for pid, (k, t) in last.items():
    b = base.get(pid, (None, 0))[1] if pid in base else 0
    by[k] += (t - b) / 100
    if pid not in base: count[k] += 1
print(f'total sampled {sum(by.values()):.1f} cpu-s')
for k, v in by.most_common(14): print(f'{v:7.1f}  {k}  ({count[k]} new processes seen)')
print('ssh processes seen:', count['ssh'], ' qemu:', sum(v for k, v in count.items() if k.startswith('qemu-system')))
