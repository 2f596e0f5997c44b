// The docker backend: containers through dockerode, created with no network and attached to the
// tenant bridge afterwards (network/container-link.ts). Everything is labelled with the cluster's
// name, and the start request rides along as a label, so a restarted launcher re-adopts its containers.
// Docker's `die` events tell of a container that ended unasked.
import type Docker from 'dockerode';
import type { StartPayload } from '../protocol/payloads.ts';
import { consoleTail } from './console-tail.ts';
import { LaunchError, type AdoptedInstance, type Backend, type ExitListener, type Running } from './backend.ts';
import { gatewayOf } from '../controller/addresses.ts';

export interface DockerBackendOptions {
  docker: Docker;
  cluster: string;
  network: ContainerNetwork;
  /** Stops are given this long before the container is killed. */
  stopTimeoutSeconds?: number;
  /** The cluster has egress (docs/egress.md): a container's resolver is its tenant gateway's DNS. */
  gatewayDns?: boolean;
  /** One node of several sharing the Docker engine: its containers carry its id, and it adopts and
   *  watches only those (unset on a one-node cluster, whose containers carry no node label). */
  node?: string;
}

/** What the backend needs of the node's tenant networks (launcher/node-network.ts). */
export interface ContainerNetwork {
  /** Wires a started container into its tenant network; pid is the container's main process. */
  attachContainer(spec: StartPayload, pid: number): Promise<void>;
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
/** Images without a command of their own (like ours) idle until stopped. */
const IDLE = ['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 3600 & wait; done'];

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
    return [`${LABEL_CLUSTER}=${this.opts.cluster}`, ...(this.opts.node ? [`${LABEL_NODE}=${this.opts.node}`] : [])];
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
              const id = (JSON.parse(line) as { Actor?: { Attributes?: Record<string, string> } }).Actor?.Attributes?.[LABEL_INSTANCE];
              if (id) void this.died(id, listener);
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

  async start(spec: StartPayload): Promise<Running> {
    const { docker } = this.opts;
    const name = this.containerName(spec.instanceId);
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
    const pid = (await container.inspect()).State.Pid;
    try {
      await this.opts.network.attachContainer(spec, pid);
    } catch (err) {
      await container.stop({ t: 0 }).catch(() => undefined);
      throw new LaunchError('network_failure', `could not attach ${name} to its tenant network: ${(err as Error).message}`);
    }
    return {};
  }

  /** The instance's container, made from its image (not started), its spec riding along as a label. */
  private async create(spec: StartPayload): Promise<Docker.Container> {
    const { docker } = this.opts;
    const name = this.containerName(spec.instanceId);
    const image = await docker.getImage(spec.image).inspect().catch((err) => {
      if (isNotFound(err)) throw new LaunchError('image_failure', `image ${spec.image} is not on this node (there is no registry: images are built locally)`);
      throw new LaunchError('launch_failure', `docker could not look up image ${spec.image}: ${(err as Error).message}`);
    });
    try {
      return await docker.createContainer({
        name, Image: spec.image, Hostname: spec.hostname ?? spec.instanceId,
        Cmd: image.Config?.Cmd?.length && image.Config.Cmd.join(' ') !== '/bin/sh' ? undefined : IDLE,
        Labels: { [LABEL_CLUSTER]: this.opts.cluster, [LABEL_INSTANCE]: spec.instanceId, [LABEL_SPEC]: JSON.stringify(spec), ...(this.opts.node ? { [LABEL_NODE]: this.opts.node } : {}) },
        HostConfig: {
          NetworkMode: 'none',
          ...(this.opts.gatewayDns ? { Dns: [gatewayOf(spec.network.subnet)] } : {}),
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

  async stop(instanceId: string): Promise<void> {
    await this.opts.docker.getContainer(this.containerName(instanceId)).stop({ t: this.opts.stopTimeoutSeconds ?? 5 }).catch((err) => {
      if (!isNotFound(err) && (err as { statusCode?: number }).statusCode !== 304) throw err; // 304: already stopped
    });
  }

  /** The container's cgroup is frozen (docker pause), and thawed. */
  async pause(instanceId: string): Promise<void> {
    await this.opts.docker.getContainer(this.containerName(instanceId)).pause();
  }

  async unpause(instanceId: string): Promise<void> {
    await this.opts.docker.getContainer(this.containerName(instanceId)).unpause();
  }

  async delete(instanceId: string): Promise<void> {
    await this.opts.docker.getContainer(this.containerName(instanceId)).remove({ force: true }).catch((err) => {
      if (!isNotFound(err)) throw err;
    });
    await this.opts.network.leave(instanceId);
  }

  async list(): Promise<AdoptedInstance[]> {
    const all = await this.opts.docker.listContainers({ all: true, filters: { label: this.labelFilter() } });
    const adopted: AdoptedInstance[] = [];
    for (const c of all) {
      let spec: StartPayload;
      try {
        spec = JSON.parse(c.Labels[LABEL_SPEC]) as StartPayload;
      } catch {
        continue; // not one of ours after all
      }
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
