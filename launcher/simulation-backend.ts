// The simulation backend: no workload at all, for scale tests. Instances "boot" after a delay and
// account resources like real ones; a CNCI instance brings up a CNCI agent with simulated NAT.
import { setTimeout as delay } from 'node:timers/promises';
import type { InstanceExit, StartPayload, VolumeRef } from '../protocol/payloads.ts';
import { consoleText, type ConsoleText } from './console.ts';
import { LaunchError, type AdoptedInstance, type Backend, type ExitListener, type Running } from './backend.ts';

export interface SimulationOptions {
  bootDelayMs: number;
  /** Brings up the agent of a simulated CNCI; returns how to stop it. */
  startCnci?: (spec: StartPayload) => { stop(): void };
}

interface SimInstance {
  spec: StartPayload;
  running: boolean;
  /** Its (absent) memory is "saved": it resumes rather than boots. */
  suspended?: boolean;
  /** It "runs" the rescue image. */
  rescued?: boolean;
  cnci?: { stop(): void };
  /** Its console: what the simulation did to it, one line each, saying it is simulated. */
  console: string[];
}

/** A simulated console keeps this many lines (as a real one, it is bounded). */
const SIM_CONSOLE_LINES = 200;

export class SimulationBackend implements Backend {
  readonly kind = 'simulation';
  private readonly instances = new Map<string, SimInstance>();
  private listener?: ExitListener;

  constructor(private readonly opts: SimulationOptions) {}

  watchExits(listener: ExitListener): () => void {
    this.listener = listener;
    return () => (this.listener = undefined);
  }

  /** A simulated death, as a kill -9 of a real instance's process would be: for tests of what follows. */
  crash(instanceId: string, exit: InstanceExit): void {
    const inst = this.instances.get(instanceId);
    if (!inst?.running) throw new Error(`instance ${instanceId} does not run on this node`);
    inst.running = false;
    this.listener?.(instanceId, exit);
  }

  async start(spec: StartPayload): Promise<Running> {
    if (this.opts.bootDelayMs > 0) await delay(this.opts.bootDelayMs);
    const inst = this.instances.get(spec.instanceId) ?? { spec, running: false, console: [] };
    if (inst.running) throw new LaunchError('already_running', `instance ${spec.instanceId} is already running`);
    inst.running = true;
    this.instances.set(spec.instanceId, inst);
    const r = spec.resources;
    this.log(inst, `${spec.restart ? 'started again' : 'booted'}: image ${spec.image}, ${r.vcpus} vcpus, ${r.memMB} MB, ${r.diskMB} MB disk`,
      `address ${spec.network.ip} (MAC ${spec.network.mac}), gateway ${spec.network.gateway}`,
      `hostname ${spec.hostname ?? spec.instanceId}`, 'ready (no guest runs: this console is the simulation\'s own record)');
    if (spec.cnci && this.opts.startCnci) inst.cnci = this.opts.startCnci(spec);
    // A simulated guest "listens" for SSH on its private address.
    return spec.vmType === 'qemu' ? { sshIp: spec.network.ip, sshPort: 22 } : {};
  }

  async stop(instanceId: string): Promise<void> {
    const inst = this.instances.get(instanceId);
    if (!inst) return;
    if (inst.running) this.log(inst, 'stopped');
    inst.running = false;
    inst.cnci?.stop();
    inst.cnci = undefined;
  }

  /** The simulation's record of the instance, as its console (docs/protocol.md "Console output"). */
  async console(instanceId: string, lines: number | null): Promise<ConsoleText> {
    const inst = this.instances.get(instanceId);
    if (!inst) throw new Error(`instance ${instanceId} is not on this node`);
    return consoleText(inst.console.join('\n'), lines);
  }

  private log(inst: SimInstance, ...lines: string[]) {
    const at = new Date().toISOString();
    inst.console.push(...lines.map((l) => `[${at}] simulated instance ${inst.spec.instanceId}: ${l}`));
    inst.console.splice(0, Math.max(0, inst.console.length - SIM_CONSOLE_LINES));
  }

  /** A simulated instance has nothing to freeze: only that it runs is checked. */
  async pause(instanceId: string): Promise<void> {
    this.running(instanceId);
  }

  async unpause(instanceId: string): Promise<void> {
    this.running(instanceId);
  }

  /** A simulated suspend: the instance stops running and is kept as suspended, as a saved VM's memory would be. */
  async suspend(instanceId: string): Promise<void> {
    const inst = this.running(instanceId);
    inst.running = false;
    inst.suspended = true;
  }

  async resume(spec: StartPayload): Promise<Running> {
    const inst = this.instances.get(spec.instanceId);
    if (!inst?.suspended) throw new Error(`instance ${spec.instanceId} is not suspended on this node`);
    inst.suspended = false;
    inst.running = true;
    return spec.vmType === 'qemu' ? { sshIp: spec.network.ip, sshPort: 22 } : {};
  }

  /** A simulated disk made again: the instance keeps the new spec (its image) for its next start. */
  async rebuild(spec: StartPayload): Promise<void> {
    const inst = this.instances.get(spec.instanceId);
    if (!inst || inst.running) throw new Error(`instance ${spec.instanceId} is not stopped on this node`);
    inst.spec = spec;
  }

  /** A simulated resize: the stopped instance keeps its new resources for its next start. */
  async resize(spec: StartPayload): Promise<void> {
    const inst = this.instances.get(spec.instanceId);
    if (!inst || inst.running) throw new Error(`instance ${spec.instanceId} is not stopped on this node`);
    inst.spec = spec;
  }

  /** A simulated rescue: the stopped VM "runs" again, marked as rescued; any image will do. */
  async rescue(spec: StartPayload, _image: string): Promise<Running> {
    const inst = this.instances.get(spec.instanceId);
    if (!inst || inst.running) throw new Error(`instance ${spec.instanceId} is not stopped on this node`);
    if (spec.vmType !== 'qemu') throw new Error(`instance ${spec.instanceId} is a container: only VMs are rescued`);
    Object.assign(inst, { running: true, rescued: true });
    return { sshIp: spec.network.ip, sshPort: 22 };
  }

  async unrescue(spec: StartPayload): Promise<Running> {
    const inst = this.instances.get(spec.instanceId);
    if (!inst?.rescued || inst.running) throw new Error(`instance ${spec.instanceId} is not a stopped rescue on this node`);
    Object.assign(inst, { running: true, rescued: false });
    return { sshIp: spec.network.ip, sshPort: 22 };
  }

  private running(instanceId: string): SimInstance {
    const inst = this.instances.get(instanceId);
    if (!inst?.running) throw new Error(`instance ${instanceId} does not run on this node`);
    return inst;
  }

  async delete(instanceId: string): Promise<void> {
    await this.stop(instanceId);
    this.instances.delete(instanceId);
  }

  async list(): Promise<AdoptedInstance[]> {
    return [...this.instances.values()].map(({ spec, running, suspended, rescued }) => ({ spec, running, suspended, rescued: running && rescued }));
  }

  /** A simulated VM keeps the volume list it would boot with; there is no guest to plug a disk into. */
  async attach(spec: StartPayload, _volume: VolumeRef): Promise<void> {
    this.keep(spec);
  }

  async detach(spec: StartPayload): Promise<void> {
    this.keep(spec);
  }

  private keep(spec: StartPayload) {
    const inst = this.instances.get(spec.instanceId);
    if (!inst) throw new Error(`instance ${spec.instanceId} is not on this node`);
    if (spec.vmType !== 'qemu') throw new Error('only VMs have volumes');
    inst.spec = spec;
  }
}
