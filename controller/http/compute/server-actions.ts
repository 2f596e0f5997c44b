// POST /servers/{id}/action: the actions that really happen on this cluster. The server is looked
// up first (404 for one that is not the caller's), and an action whose precondition the cluster
// knows to be false answers 409 as Nova does; one it cannot do is a 400 that says so.
import { ApiError, badRequest } from '../../../shared/errors.ts';
import { parseInput, reply, type Request } from '../../../shared/http-router.ts';
import type { Instance, Tenant } from '../../api-types.ts';
import type { Caller } from '../../auth.ts';
import { randomBytes } from 'node:crypto';
import { Reboot, Rebuild, Rescue, Resize, ServerAction } from '../request-schemas.ts';
import { flavorsOf } from './flavors.ts';
import { inResize } from '../../instance-resize.ts';
import { serverView } from './views.ts';
import { atLeast } from '../compute-scope.ts';
import { injectedFiles } from './personality.ts';
import type { ComputeApi } from './context.ts';
import { now } from '../../context.ts';
import { consoleOutput } from './console-output.ts';

/** An action answers 202 with no body, unless it is one that returns its answer (rebuild). */
type Action = (tenant: Tenant, inst: Instance, caller: Caller, body: unknown) => unknown;
type Answering = (tenant: Tenant, inst: Instance, caller: Caller, body: unknown, req: Request) => object;

/** The name Nova's instance actions give each action. */
const RECORDED: Record<string, string> = {
  'os-stop': 'stop', 'os-start': 'start', reboot: 'reboot', pause: 'pause', unpause: 'unpause', suspend: 'suspend', resume: 'resume', rebuild: 'rebuild', lock: 'lock', unlock: 'unlock',
  resize: 'resize', confirmResize: 'confirmResize', revertResize: 'revertResize',
  shelve: 'shelve', shelveOffload: 'shelveOffload', unshelve: 'unshelve',
  rescue: 'rescue', unrescue: 'unrescue',
};

/** What a server held by a resize still takes (Nova's RESIZED state); confirmResize answers 204. */
const DURING_RESIZE = new Set(['confirmResize', 'revertResize', 'lock', 'unlock']);

/** Nothing here is ever soft-deleted (deletes are immediate): undoing one is a conflict. */
const never = (what: string): Action => (_t, inst) => {
  throw new ApiError('invalid_state', `instance ${inst.id} is not ${what}: it is ${inst.state}`);
};

/** An unknown image is Nova's 400. */
function nova400ForImage<T>(act: () => T): T {
  try {
    return act();
  } catch (err) {
    if (err instanceof ApiError && err.code === 'unknown_image') throw badRequest(err.message);
    throw err;
  }
}

export function serverActionRoutes(api: ComputeApi): void {
  const { s } = api;
  const actions: Record<string, Action> = {
    'os-stop': (t, inst, c) => s.instances.stop(t, inst.id, c.admin),
    'os-start': (t, inst, c) => s.instances.restart(t, inst.id, c.admin),
    reboot: (t, inst, c, body) => s.instances.reboot(t, inst.id, parseInput(Reboot, body, 'reboot').type, c.admin),
    lock: (t, inst, c) => s.instances.lock(t, inst.id, c.admin),
    unlock: (t, inst, c) => s.instances.unlock(t, inst.id, c.admin),
    // QMP stop/cont or docker pause/unpause on the node (docs/protocol.md "Actions").
    pause: (t, inst, c) => s.instances.pause(t, inst.id, true, c.admin),
    unpause: (t, inst, c) => s.instances.pause(t, inst.id, false, c.admin),
    // The VM's memory saved to disk and its QEMU ended, and started again from it.
    suspend: (t, inst, c) => s.instances.suspend(t, inst.id, true, c.admin),
    resume: (t, inst, c) => s.instances.suspend(t, inst.id, false, c.admin),
    // Stopped and kept on its node with its disk, its node's memory and vcpus released, started again from the disk (docs/protocol.md "Shelve").
    shelve: (t, inst, c) => s.shelving.shelve(t, inst.id, c.admin),
    shelveOffload: (t, inst, c) => s.shelving.offload(t, inst.id, c.admin),
    unshelve: (t, inst, c) => s.shelving.unshelve(t, inst.id, c.admin),
    // The node boots the VM from its own image again (docs/protocol.md "Actions").
    unrescue: (t, inst, c) => s.instances.rescue(t, inst.id, null, c.admin),
    // Deletes are immediate here (no soft delete, as Nova with reclaim_instance_interval 0, which
    // answers forceDelete and restore of a server that is not soft-deleted with 409).
    // A new flavor on the same node (docs/protocol.md "Resize"): an unknown flavor is Nova's 400.
    resize: (t, inst, c, body) => {
      const { flavorRef, 'OS-DCF:diskConfig': diskConfig } = parseInput(Resize, body, 'resize');
      const flavor = flavorsOf(api, t).find((f) => f.id === flavorRef);
      if (!flavor) throw badRequest(`flavor ${flavorRef.slice(0, 64)} does not exist: flavors are the workloads (openstack flavor list)`);
      return s.instances.resizes.resize(t, s.instances.unlocked(inst, c.admin), flavor, diskConfig);
    },
    confirmResize: (_t, inst, c) => s.instances.resizes.confirm(s.instances.unlocked(inst, c.admin)),
    revertResize: (_t, inst, c) => s.instances.resizes.revert(s.instances.unlocked(inst, c.admin)),
    forceDelete: never('soft-deleted'),
    restore: never('soft-deleted'),
  };
  const answering: Record<string, Answering> = {
    // The node boots the VM from the rescue image with its own disk attached (docs/protocol.md
    // "Actions"); Nova answers 200 with the password, which the guest does not get (docs/api.md).
    rescue: (t, inst, c, body) => {
      const r = parseInput(Rescue, body, 'rescue');
      nova400ForImage(() => s.instances.rescue(t, inst.id, r?.rescue_image_ref, c.admin));
      return { adminPass: r?.adminPass ?? randomBytes(9).toString('base64url') };
    },
    // The node makes the disk again from the new image and boots it (docs/protocol.md "Actions").
    rebuild: (t, inst, c, body, req) => {
      const r = parseInput(Rebuild, body, 'rebuild');
      if (r.personality !== undefined && atLeast(req, '2.57')) throw badRequest('Invalid input for field/attribute rebuild: personality is gone from microversion 2.57');
      // Nova injects only the files a rebuild names: none named, none kept.
      const change = { name: r.name, metadata: r.metadata, access_ipv4: r.accessIPv4, access_ipv6: r.accessIPv6, files: injectedFiles(r.personality) ?? [], disk_config: r['OS-DCF:diskConfig'] };
      const rebuilt = nova400ForImage(() => s.instances.rebuild(t, inst.id, r.imageRef, change, c.admin));
      // Nova's common view (no extended attributes) and the password, shown once; the guest does not get it (docs/api.md).
      // From 2.54 the answer names the server's keypair, from 2.57 its user_data (as Nova's rebuild views).
      return { server: {
        ...serverView(api, rebuilt, req), adminPass: r.adminPass ?? randomBytes(9).toString('base64url'),
        ...(atLeast(req, '2.54') ? { key_name: rebuilt.key_name ?? null } : {}),
        ...(atLeast(req, '2.57') ? { user_data: rebuilt.user_data ?? null } : {}),
      } };
    },
  };
  api.on('POST', '/servers/:id/action', async (req) => {
    const { caller, tenant } = await api.scoped(req);
    const body = await req.body(ServerAction);
    const inst = s.instances.get(tenant, req.params.id);
    const names = Object.keys(body);
    if (names.length !== 1) throw badRequest(`an action body names exactly one action, not ${names.length}`);
    // Asks the node for data and answers 200 with it (docs/api.md): no action is recorded.
    if (names[0] === 'os-getConsoleOutput') return reply(200, await consoleOutput(s, inst, body[names[0]]));
    // Own names only: "constructor" or "toString" is no action.
    const answers = Object.hasOwn(answering, names[0]);
    const action = answers ? answering[names[0]] : Object.hasOwn(actions, names[0]) ? actions[names[0]] : undefined;
    if (!action) throw badRequest(`action ${names[0].slice(0, 64)} is not supported here; supported: ${[...Object.keys(actions), ...Object.keys(answering), 'os-getConsoleOutput'].join(', ')}`);
    if (inResize(inst) && !DURING_RESIZE.has(names[0])) throw new ApiError('invalid_state', `instance ${inst.id} is being resized (${inst.resize!.phase}): confirm or revert the resize first`);
    const answer = action(tenant, inst, caller, body[names[0]], req);
    const recorded = RECORDED[names[0]];
    if (recorded) s.instances.noteAction(tenant, inst.id, { action: recorded, request_id: req.id, user_id: caller.userId, start_time: now() });
    return answers ? reply(names[0] === 'rescue' ? 200 : 202, answer) : reply(names[0] === 'confirmResize' ? 204 : 202);
  });
}
