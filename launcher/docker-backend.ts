// The docker backend: containers through dockerode, created with no network and attached to the
// tenant bridge afterwards (network/container-link.ts). Everything is labelled with the cluster's
// name, and the start request rides along as a label, so a restarted launcher re-adopts its containers.
// Docker's `die` events tell of a container that ended unasked.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { StartPayload } from '../protocol/payloads.ts';
import { fileFor } from '../shared/safe-path.ts';
import { consoleTail } from './console-tail.ts';
import { consoleText, type ConsoleText } from './console.ts';
import { CONSOLE_MAX_BYTES } from '../protocol/payloads.ts';
import { LaunchError, type AdoptedInstance, type Backend, type ExitListener, type Running } from './backend.ts';
import { gatewayOf } from '../controller/addresses.ts';
import { tarArchive } from './tar.ts';

export interface DockerBackendOptions {
  docker: Docker;
  cluster: string;
  network: ContainerNetwork;
  /** Each container's /etc/hosts and /etc/resolv.conf are kept in `<stateDir>/containers/<id>/`. */
  stateDir: string;
  /** Stops are given this long before the container is killed. */
  stopTimeoutSeconds?: number;
  /** The cluster has egress (docs/egress.md): a container's resolver is its tenant gateway's DNS. */
  gatewayDns?: boolean;
  /** Variables every container gets (the proxies, docs/egress.md "Proxies"); Docker adds the image's. */
  environment?: Record<string, string>;
  /** One node of several sharing the Docker engine: its containers carry its id, and it adopts and
   *  watches only those (unset on a one-node cluster, whose containers carry no node label). */
  node?: string;
  /** Also the cluster's containers that carry no node label: node 0 of a cluster that had one node
   *  when they were made (a node added since by node.sh; docs/nodes.md). */
  adoptUnlabelled?: boolean;
}

/** What the backend needs of the node's tenant networks (launcher/node-network.ts). */
export interface ContainerNetwork {
  /** Makes the instance's tenant segment on the node (while its container starts); the bridge to join. */
  join(spec: StartPayload): Promise<string>;
  /** Wires a started container into that bridge; pid is the container's main process. */
  attachContainer(spec: StartPayload, pid: number, bridge: string): Promise<void>;
  /** Counts a re-adopted running container; wires it again if its link is gone (the node's
   *  namespace was deleted under it, as a reboot of the cluster without one of Docker does). */
  adoptContainer(spec: StartPayload, pid: number): Promise<void>;
  adopt(spec: StartPayload): void;
  leave(instanceId: string): Promise<void>;
}

/** Docker's name for an instance's container: it carries the cluster's name. */
export const containerName = (cluster: string, instanceId: string) => `ciao-${cluster}-${instanceId}`;

const LABEL_CLUSTER = 'ciao.cluster';
const LABEL_INSTANCE = 'ciao.instance';
const LABEL_SPEC = 'ciao.spec';
const LABEL_NODE = 'ciao.node';
/** Images without a command of their own (like ours) idle until stopped, after a line that says
 *  so on their output: what a guest's boot lines are to a VM's console (ciao console instance). */
const IDLE = ['/bin/sh', '-c', 'echo "ciao-container: $(hostname) started"; trap "exit 0" TERM; while :; do sleep 3600 & wait; done'];

/** The most lines of a container's output a console answer asks Docker for. */
const DOCKER_TAIL_MAX = 4096;

/** Docker's own /etc/hosts for a container of network `none`. */
const HOSTS = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n';

/** A container's /etc/resolv.conf: its tenant gateway's DNS when the cluster has egress, else none
 *  (nothing outside the cluster answers; Docker would have copied the host's resolvers). */
export const containerResolvConf = (gateway: string | undefined) =>
  gateway ? `nameserver ${gateway}\n` : '# no resolver: this cluster has no egress (setup.sh --egress)\n';

const isNotFound = (err: unknown) => (err as { statusCode?: number }).statusCode === 404;

/** How long to wait before watching Docker's events again when the stream broke (dockerd restarted). */
const EVENTS_RETRY_MS = 1000;

/** Why a container ended, from its inspected state. */
export function containerExitReason(state: { ExitCode: number; OOMKilled: boolean; Error?: string }): string {
  if (state.OOMKilled) return `the container was killed: out of memory (exit code ${state.ExitCode})`;
  if (state.ExitCode === 137) return 'the container was killed by SIGKILL (exit code 137)';
  return `the container exited with code ${state.ExitCode}${state.Error ? `: ${state.Error}` : ''}`;
}

/** The text of a non-TTY container's log stream: frames of an 8-byte header (stream, 0, 0, 0, length) and a payload. */
export function demuxLogs(buf: Buffer): string {
  let out = '';
  for (let at = 0; at + 8 <= buf.length;) {
    const length = buf.readUInt32BE(at + 4);
    out += buf.subarray(at + 8, at + 8 + length).toString('utf8');
    at += 8 + length;
  }
  return out;
}

export class DockerBackend implements Backend {
  readonly kind = 'docker';

  constructor(private readonly opts: DockerBackendOptions) {}

  /** This node's containers: the cluster's, and of those the node's own when several share the engine. */
  private labelFilter(): string[] {
    return [`${LABEL_CLUSTER}=${this.opts.cluster}`, ...(this.opts.node && !this.opts.adoptUnlabelled ? [`${LABEL_NODE}=${this.opts.node}`] : [])];
  }

  /** Whether a container of the cluster (its labels) is this node's: Docker's filters cannot say "no such label". */
  private isMine(labels: Record<string, string> | undefined): boolean {
    const node = labels?.[LABEL_NODE];
    return !this.opts.node || node === this.opts.node || (!!this.opts.adoptUnlabelled && node === undefined);
  }

  watchExits(listener: ExitListener): () => void {
    const abort = new AbortController();
    const watch = async () => {
      while (!abort.signal.aborted) {
        try {
          const stream = await this.opts.docker.getEvents({
            filters: { type: ['container'], event: ['die'], label: this.labelFilter() }, abortSignal: abort.signal,
          } as Docker.GetEventsOptions);
          let pending = '';
          for await (const chunk of stream as AsyncIterable<Buffer>) {
            pending += chunk.toString('utf8');
            const lines = pending.split('\n');
            pending = lines.pop()!;
            for (const line of lines.filter((l) => l.trim())) {
              const labels = (JSON.parse(line) as { Actor?: { Attributes?: Record<string, string> } }).Actor?.Attributes;
              const id = labels?.[LABEL_INSTANCE];
              if (id && this.isMine(labels)) void this.died(id, listener);
            }
          }
        } catch {
          // The engine went away or the stream broke: watch again below.
        }
        if (!abort.signal.aborted) await new Promise((resolve) => setTimeout(resolve, EVENTS_RETRY_MS).unref());
      }
    };
    void watch();
    return () => abort.abort();
  }

  /** Every `die` is reported, asked for or not: the launcher knows which instances it was stopping. */
  private async died(instanceId: string, listener: ExitListener) {
    const container = this.opts.docker.getContainer(this.containerName(instanceId));
    const info = await container.inspect().catch(() => undefined);
    if (!info || info.State.Running) return; // removed meanwhile, or already started again
    const logs = await container.logs({ stdout: true, stderr: true, tail: 10 }).catch(() => Buffer.alloc(0));
    listener(instanceId, { reason: containerExitReason(info.State), console: consoleTail(demuxLogs(logs as unknown as Buffer)) });
  }

  containerName(instanceId: string): string {
    return containerName(this.opts.cluster, instanceId);
  }

  /** The container's network is wired while it already runs (its namespace exists only then); the
   *  tenant's segment on the node is made meanwhile, while Docker starts it. */
  async start(spec: StartPayload): Promise<Running> {
    const name = this.containerName(spec.instanceId);
    const joining = this.opts.network.join(spec);
    joining.catch(() => undefined); // awaited below
    let container: Docker.Container;
    let pid: number;
    try {
      [container, pid] = await this.run(spec);
    } catch (err) {
      await joining.catch(() => undefined); // counted on the node, so the launcher's delete releases it
      throw err;
    }
    try {
      await this.opts.network.attachContainer(spec, pid, await joining);
    } catch (err) {
      await container.stop({ t: 0 }).catch(() => undefined);
      throw new LaunchError('network_failure', `could not attach ${name} to its tenant network: ${(err as Error).message}`);
    }
    return {};
  }

  /** Starts the instance's container (made first, unless it is a restart); its main process. */
  private async run(spec: StartPayload): Promise<[Docker.Container, number]> {
    const { docker } = this.opts;
    const name = this.containerName(spec.instanceId);
    // A restart's container has its files' mounts already: written again, in case they went.
    if (spec.restart) await this.writeNetworkFiles(spec);
    const container = spec.restart ? docker.getContainer(name) : await this.create(spec);
    try {
      await container.start();
    } catch (err) {
      const message = (err as Error).message;
      // A privileged container asks for every capability; a host whose own bounding set lacks one
      // (as some VMs' do) cannot give them: say so, rather than leave runc's words alone.
      if (spec.requirements.privileged && /apply caps/.test(message)) {
        throw new LaunchError('launch_failure', `this node cannot run privileged containers: its root lacks capabilities (${message.trim()})`);
      }
      throw new LaunchError('launch_failure', `docker could not start ${name}: ${message}`);
    }
    return [container, (await container.inspect()).State.Pid];
  }

  private filesDir(instanceId: string): string {
    return fileFor(join(this.opts.stateDir, 'containers'), instanceId);
  }

  /** The files Docker would have written had it networked the container (it does not: see createContainer). */
  private async writeNetworkFiles(spec: StartPayload) {
    const dir = this.filesDir(spec.instanceId);
    await mkdir(dir, { recursive: true });
    await Promise.all([
      writeFile(join(dir, 'hosts'), HOSTS),
      writeFile(join(dir, 'resolv.conf'), containerResolvConf(this.opts.gatewayDns ? gatewayOf(spec.network.subnet) : undefined)),
    ]);
  }

  /** The instance's container, made from its image (not started), its spec riding along as a label
   *  (without the injected files: they are in the container's file system from here on). */
  private async create(spec: StartPayload): Promise<Docker.Container> {
    const container = await this.createContainer(spec);
    if (!spec.files?.length) return container;
    const archive = tarArchive(spec.files.map((f) => ({ path: f.path.replace(/^\/+/, ''), data: Buffer.from(f.contents, 'base64') })));
    await container.putArchive(archive, { path: '/' }).catch(async (err) => {
      await container.remove({ force: true }).catch(() => undefined);
      throw new LaunchError('launch_failure', `docker could not put the injected files into ${this.containerName(spec.instanceId)}: ${(err as Error).message}`);
    });
    return container;
  }

  /** Its networking is disabled, not merely `none`: Docker then neither makes a network sandbox nor
   *  runs its `libnetwork-setkey` hook (the whole dockerd binary started once more) inside every
   *  start — half of a container's start on a 2-core machine. The container still gets a network
   *  namespace of its own (the runtime's), and its /etc/hosts and /etc/resolv.conf are ours. */
  private async createContainer(spec: StartPayload): Promise<Docker.Container> {
    const { docker } = this.opts;
    const name = this.containerName(spec.instanceId);
    const image = await docker.getImage(spec.image).inspect().catch((err) => {
      if (isNotFound(err)) throw new LaunchError('image_failure', `image ${spec.image} is not on this node (there is no registry: images are built locally)`);
      throw new LaunchError('launch_failure', `docker could not look up image ${spec.image}: ${(err as Error).message}`);
    });
    // Before the container exists: Docker mounts them for the injected files' upload too.
    await this.writeNetworkFiles(spec);
    const files = this.filesDir(spec.instanceId);
    try {
      return await docker.createContainer({
        name, Image: spec.image, Hostname: spec.hostname ?? spec.instanceId,
        Cmd: image.Config?.Cmd?.length && image.Config.Cmd.join(' ') !== '/bin/sh' ? undefined : IDLE,
        Env: Object.entries(this.opts.environment ?? {}).map(([k, v]) => `${k}=${v}`),
        Labels: { [LABEL_CLUSTER]: this.opts.cluster, [LABEL_INSTANCE]: spec.instanceId, [LABEL_SPEC]: JSON.stringify({ ...spec, files: undefined }), ...(this.opts.node ? { [LABEL_NODE]: this.opts.node } : {}) },
        NetworkDisabled: true,
        HostConfig: {
          NetworkMode: 'none',
          Binds: [`${join(files, 'hosts')}:/etc/hosts`, `${join(files, 'resolv.conf')}:/etc/resolv.conf`],
          Memory: spec.resources.memMB * 1024 * 1024,
          NanoCpus: spec.resources.vcpus * 1e9,
          Privileged: spec.requirements.privileged ?? false,
        },
      });
    } catch (err) {
      throw new LaunchError('launch_failure', `docker could not create ${name}: ${(err as Error).message}`);
    }
  }

  /** A container's root file system is its image's: the stopped container is removed and made
   *  again from the new image (its network stays the instance's); its next start runs it. */
  async rebuild(spec: StartPayload): Promise<void> {
    const { docker } = this.opts;
    // Looked up first: a missing image leaves the old container as it was.
    await docker.getImage(spec.image).inspect().catch((err) => {
      throw new LaunchError('image_failure', `image ${spec.image} is not on this node: ${(err as Error).message}`);
    });
    await docker.getContainer(this.containerName(spec.instanceId)).remove({ force: true }).catch((err) => {
      if (!isNotFound(err)) throw err;
    });
    await this.create(spec);
  }

  /** The stopped container gets the new flavor's memory and vcpus (docker update; swap twice the
   *  memory, as at create): the same container, its files kept. Its spec label stays the one it was
   *  made with; list() reads the resources back from the container's HostConfig. */
  async resize(spec: StartPayload): Promise<void> {
    const memory = spec.resources.memMB * 2 ** 20;
    await this.opts.docker.getContainer(this.containerName(spec.instanceId))
      .update({ Memory: memory, MemorySwap: 2 * memory, NanoCpus: spec.resources.vcpus * 1e9 });
  }

  async stop(instanceId: string): Promise<void> {
    await this.opts.docker.getContainer(this.containerName(instanceId)).stop({ t: this.opts.stopTimeoutSeconds ?? 5 }).catch((err) => {
      if (!isNotFound(err) && (err as { statusCode?: number }).statusCode !== 304) throw err; // 304: already stopped
    });
  }

  /** The container's output (stdout and stderr, as `docker logs`), stopped or running: Docker's
   *  tail picks the lines, then the text is shaped as a VM's console. */
  async console(instanceId: string, lines: number | null): Promise<ConsoleText> {
    // Docker hands the tail over whole (and splits lines at 16 KiB): a bounded count of lines keeps
    // what a container that writes long lines makes the node hold bounded too.
    const tail = Math.min(lines ?? DOCKER_TAIL_MAX, DOCKER_TAIL_MAX);
    const logs = await this.opts.docker.getContainer(this.containerName(instanceId)).logs({ stdout: true, stderr: true, follow: false, tail });
    const raw = demuxLogs(logs as unknown as Buffer);
    // Longer than the answer may be: its end, marked as cut.
    const cut = Buffer.byteLength(raw) > CONSOLE_MAX_BYTES;
    const shaped = consoleText(cut ? Buffer.from(raw).subarray(-CONSOLE_MAX_BYTES).toString('utf8') : raw, lines, cut);
    // More was asked than Docker was: lines before its tail are left out.
    const capped = (lines === null || lines > DOCKER_TAIL_MAX) && raw.split('\n').length > DOCKER_TAIL_MAX;
    return capped ? { ...shaped, truncated: true } : shaped;
  }

  /** The container's cgroup is frozen (docker pause), and thawed. */
  async pause(instanceId: string): Promise<void> {
    await this.opts.docker.getContainer(this.containerName(instanceId)).pause();
  }

  async unpause(instanceId: string): Promise<void> {
    await this.opts.docker.getContainer(this.containerName(instanceId)).unpause();
  }

  /** Shelved, the container is stopped and kept with its writable layer; it leaves its tenant
   *  network (the bridge side of its link, the segment with the node's last one of the tenant). */
  async offload(instanceId: string): Promise<void> {
    await this.opts.network.leave(instanceId);
  }

  async delete(instanceId: string): Promise<void> {
    await this.opts.docker.getContainer(this.containerName(instanceId)).remove({ force: true }).catch((err) => {
      if (!isNotFound(err)) throw err;
    });
    await rm(this.filesDir(instanceId), { recursive: true, force: true });
    await this.opts.network.leave(instanceId);
  }

  async list(): Promise<AdoptedInstance[]> {
    const all = await this.opts.docker.listContainers({ all: true, filters: { label: this.labelFilter() } });
    const adopted: AdoptedInstance[] = [];
    for (const c of all.filter((c) => this.isMine(c.Labels))) {
      let spec: StartPayload;
      try {
        spec = JSON.parse(c.Labels[LABEL_SPEC]) as StartPayload;
      } catch {
        continue; // not one of ours after all
      }
      // A resized container's vcpus and memory are in its HostConfig, not in its label (resize above).
      const host = (await this.opts.docker.getContainer(c.Id).inspect().catch(() => undefined))?.HostConfig;
      if (host?.Memory) spec.resources = { ...spec.resources, memMB: Math.round(host.Memory / 2 ** 20) };
      if (host?.NanoCpus) spec.resources = { ...spec.resources, vcpus: Math.round(host.NanoCpus / 1e9) };
      // A paused container runs, frozen: its network is wired as a running one's.
      const paused = c.State === 'paused';
      let running = c.State === 'running' || paused;
      if (running) {
        try {
          const pid = (await this.opts.docker.getContainer(c.Id).inspect()).State.Pid;
          await this.opts.network.adoptContainer(spec, pid);
        } catch {
          // It cannot be wired again: stop it, so it is restarted (and wired) like any stopped one.
          await this.opts.docker.getContainer(c.Id).stop({ t: 0 }).catch(() => undefined);
          this.opts.network.adopt(spec);
          running = false;
        }
      } else {
        this.opts.network.adopt(spec);
      }
      adopted.push({ spec, running, paused: running && paused });
    }
    return adopted;
  }
}
