// Console output (docs/protocol.md "Console output"): the controller asks the instance's node with
// COMMAND CONSOLE and waits for its answer under a random request id. Every request ends within
// CONSOLE_TIMEOUT_MS: answered (200), refused (409: not running anywhere, or the node does not
// hold it), or unanswered (504, with Retry-After) — never a hang, never a 500.
import { randomUUID } from 'node:crypto';
import type { ConsoleFailure, ConsoleOutput } from '../protocol/payloads.ts';
import { ApiError } from '../shared/errors.ts';
import type { Instance } from './api-types.ts';
import { schedulerNotConnected, type ControllerContext } from './context.ts';

/** How long a node has to answer. */
export const CONSOLE_TIMEOUT_MS = 5000;

export interface ConsoleAnswer {
  output: string;
  truncated: boolean;
}

interface Pending {
  instanceId: string;
  nodeId: string;
  resolve(answer: ConsoleAnswer): void;
  reject(err: ApiError): void;
  timer: NodeJS.Timeout;
}

/** States in which no node holds the instance to ask (or its node is gone). */
const NOWHERE = new Set(['missing', 'deleting']);

export class ConsoleRequests {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly ctx: ControllerContext, private readonly timeoutMs = CONSOLE_TIMEOUT_MS) {}

  /** The last `lines` lines (null: all that fit in 64 KiB) of the instance's console. A stopped
   *  instance's console is still on its node (a VM's serial log, a container's output). */
  ask(inst: Instance, lines: number | null): Promise<ConsoleAnswer> {
    if (!inst.node_id || !inst.dispatched || NOWHERE.has(inst.state)) {
      return Promise.reject(new ApiError('invalid_state', `instance ${inst.id} is ${inst.state} and not on any node: it has no console to show yet`));
    }
    const requestId = randomUUID();
    const nodeId = inst.node_id;
    return new Promise<ConsoleAnswer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new ApiError('timeout', `node ${nodeId} did not send the console of instance ${inst.id} within ${this.timeoutMs / 1000} s: try again`, 5));
      }, this.timeoutMs);
      timer.unref();
      this.pending.set(requestId, { instanceId: inst.id, nodeId, resolve, reject, timer });
      if (!this.ctx.send({ type: 'COMMAND', op: 'CONSOLE', to: nodeId, payload: { instanceId: inst.id, requestId, lines } })) {
        this.settle(requestId)?.reject(schedulerNotConnected());
      }
    });
  }

  /** The request, taken out of the pending ones, when `from` is the node it was sent to. */
  private settle(requestId: string, from?: string, instanceId?: string): Pending | undefined {
    const p = this.pending.get(requestId);
    if (!p || (from !== undefined && from !== p.nodeId) || (instanceId !== undefined && instanceId !== p.instanceId)) return undefined;
    clearTimeout(p.timer);
    this.pending.delete(requestId);
    return p;
  }

  /** STATUS CONSOLE_OUTPUT; an answer nobody waits for any more (it came late) is dropped. */
  answered(o: ConsoleOutput, from: string | undefined): void {
    this.settle(o.requestId, from, o.instanceId)?.resolve({ output: o.text, truncated: o.truncated });
  }

  failed(f: ConsoleFailure, from: string | undefined): void {
    const p = this.settle(f.requestId, from, f.instanceId);
    if (!p) return;
    if (f.reason === 'no_instance') p.reject(new ApiError('invalid_state', `instance ${f.instanceId} is not running on node ${p.nodeId} (${f.message})`));
    else if (f.reason === 'not_supported') p.reject(new ApiError('invalid_state', `instance ${f.instanceId} has no console to show: ${f.message}`));
    else p.reject(new ApiError('unavailable', `node ${p.nodeId} could not read the console of instance ${f.instanceId}: ${f.message}`, 5));
  }

  /** The scheduler could not reach the node: every request to it for that instance ends now. */
  unreachable(instanceId: string | undefined, nodeId: string): void {
    for (const [requestId, p] of this.pending) {
      if (p.nodeId !== nodeId || (instanceId !== undefined && p.instanceId !== instanceId)) continue;
      this.settle(requestId)?.reject(new ApiError('invalid_state', `instance ${p.instanceId} is not running anywhere the cluster can reach: its node ${nodeId} is not connected`));
    }
  }
}
