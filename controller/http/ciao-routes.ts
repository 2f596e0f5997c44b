// The ciao API (docs/api.md): tenants, workloads, instances, nodes, events, pools, external IPs, quotas.
import { randomUUID } from 'node:crypto';
import { ApiError, badRequest, notFound } from '../../shared/errors.ts';
import { QUOTA_NAMES, type Instance, type Tenant, type Workload } from '../api-types.ts';
import type { Caller } from '../auth.ts';
import type { Services } from '../services.ts';
import { now } from '../context.ts';
import { parseWorkload, validateWorkload } from '../workload-yaml.ts';
import { checkQuota, quotaReport } from '../quotas.ts';
import { inResize } from '../instance-resize.ts';
import { parseInput, reply, type Request, type Router } from '../../shared/http-router.ts';
import { z } from 'zod';
import { CONSOLE_MAX_LINES } from '../../protocol/payloads.ts';
import {
  CnciFaultInput, InstanceAction, NewInstances, NewMapping, NewPool, NewTenant, NewVolume, NodeFault, PoolAddresses, QuotaLimits,
  TenantChange, VolumeAttach,
} from './request-schemas.ts';


export function ciaoRoutes(router: Router, s: Services): void {
  const caller = (req: Request) => s.auth.authenticate(req.header('x-auth-token'), req);
  const admin = async (req: Request) => {
    const c = await caller(req);
    if (!c.admin) throw new ApiError('not_admin', `${req.raw.method} ${req.path} is for admins: use the admin credentials (CIAO_ADMIN_USERNAME)`);
    return c;
  };
  /** The path's tenant, which the caller must be scoped to (or be admin). */
  const tenant = async (req: Request): Promise<{ caller: Caller; tenant: Tenant }> => {
    const c = await caller(req);
    const id = req.params.tenant;
    if (c.projectId === id) return { caller: c, tenant: s.tenants.ensure(id, c.projectName ?? id) };
    if (!c.admin) throw new ApiError('wrong_tenant', `your token is scoped to project ${c.projectId ?? '(none)'}, not to tenant ${id}`);
    return { caller: c, tenant: s.tenants.get(id) };
  };

  // --- cluster and nodes ---
  router.on('GET', '/cluster/status', async (req) => {
    await admin(req);
    // Counted as records are written (controller/instance-book.ts), not by reading 100 000 of them.
    const count = (state?: Instance['state']) => s.instances.book.count(state);
    return reply(200, {
      nodes: s.nodes.summary(),
      instances: { total: count(), pending: count('pending'), active: count('active'), exited: count('exited') },
      tenants: s.store.tenants.size,
    });
  });
  router.on('GET', '/nodes', async (req) => (await admin(req), reply(200, { nodes: s.nodes.all() })));
  const nodeId = { params: { id: z.string().min(1).max(255) } };
  router.on('GET', '/nodes/:id', async (req) => {
    await admin(req);
    const node = s.nodes.get(req.params.id);
    if (!node) throw notFound('node', req.params.id);
    return reply(200, node);
  }, nodeId);
  router.on('GET', '/nodes/:id/instances', async (req) => {
    await admin(req);
    if (!s.nodes.get(req.params.id)) throw notFound('node', req.params.id);
    return reply(200, { instances: s.store.instances.all().filter((i) => i.node_id === req.params.id) });
  }, nodeId);
  router.on('POST', '/nodes/:id/faults', async (req) => {
    await admin(req);
    if (!s.nodes.isOnline(req.params.id)) throw notFound('connected node', req.params.id);
    const f = (await req.body(NodeFault)).start_failure ?? null;
    s.send({ type: 'COMMAND', op: 'NODE_FAULT', to: req.params.id, payload: { startFailure: f } });
    return reply(202, { node_id: req.params.id, start_failure: f });
  }, nodeId);

  // --- tenants ---
  router.on('GET', '/tenants', async (req) => {
    const c = await caller(req);
    if (c.admin) return reply(200, { tenants: s.store.tenants.all() });
    return reply(200, { tenants: c.projectId ? [s.tenants.ensure(c.projectId, c.projectName ?? c.projectId)] : [] });
  });
  router.on('POST', '/tenants', async (req) => {
    await admin(req);
    const body = await req.body(NewTenant);
    const t = s.tenants.create({ id: body.id ?? randomUUID(), name: body.name, config: body.config ?? undefined });
    return reply(201, t);
  });
  router.on('GET', '/tenants/:tenant', async (req) => reply(200, (await tenant(req)).tenant));
  router.on('PATCH', '/tenants/:tenant', async (req) => {
    await admin(req);
    const body = await req.body(TenantChange);
    const t = s.tenants.update(req.params.tenant, { name: body.name, config: body.config ?? undefined });
    if (body.config?.egress !== undefined) s.tenantEgress.tell(t);
    return reply(200, t);
  });
  router.on('DELETE', '/tenants/:tenant', async (req) => {
    await admin(req);
    const t = s.tenants.get(req.params.tenant);
    s.tenants.delete(t.id);
    const cnci = t.cnci && s.store.instances.get(t.cnci.instance_id);
    if (cnci) s.instances.remove(cnci);
    return reply(204);
  });

  // --- workloads ---
  const visibleWorkloads = (t: Tenant, c: Caller) =>
    s.store.workloads.all().filter((w) => w.tenant_id === t.id || w.visibility === 'public' || (c.admin && w.visibility === 'internal'));
  const workload = (t: Tenant, c: Caller, id: string): Workload => {
    const w = visibleWorkloads(t, c).find((x) => x.id === id);
    if (!w) throw notFound('workload', id);
    return w;
  };
  router.on('GET', '/tenants/:tenant/workloads', async (req) => {
    const { caller: c, tenant: t } = await tenant(req);
    return reply(200, { workloads: visibleWorkloads(t, c) });
  });
  router.on('POST', '/tenants/:tenant/workloads', async (req) => {
    const { caller: c, tenant: t } = await tenant(req);
    const type = req.header('content-type') ?? '';
    const input = type.includes('json') ? validateWorkload(await req.jsonValue()) : parseWorkload(await req.text());
    if (input.visibility !== 'tenant' && !c.admin) throw new ApiError('not_admin', `only an admin can create ${input.visibility} workloads`);
    const w: Workload = {
      id: randomUUID(), tenant_id: input.visibility === 'tenant' ? t.id : null, description: input.description,
      vm_type: input.vm_type, image_name: (input.image_name ?? input.image_id)!, fw_type: input.fw_type, visibility: input.visibility,
      defaults: input.defaults, requirements: input.requirements, disks: input.disks, config: input.config, created_at: now(),
    };
    s.store.workloads.put(w);
    return reply(201, w);
  });
  router.on('GET', '/tenants/:tenant/workloads/:id', async (req) => {
    const { caller: c, tenant: t } = await tenant(req);
    return reply(200, workload(t, c, req.params.id));
  });
  router.on('DELETE', '/tenants/:tenant/workloads/:id', async (req) => {
    const { caller: c, tenant: t } = await tenant(req);
    const w = workload(t, c, req.params.id);
    if (w.tenant_id !== t.id && !c.admin) throw new ApiError('forbidden', `workload ${w.id} is ${w.visibility}: only an admin can delete it`);
    const user = s.store.instances.all().find((i) => i.workload_id === w.id);
    if (user) throw new ApiError('in_use', `workload ${w.id} is used by instance ${user.id}: delete its instances first`);
    s.store.workloads.delete(w.id);
    return reply(204);
  });

  // --- instances ---
  router.on('GET', '/tenants/:tenant/instances', async (req) => {
    const { tenant: t } = await tenant(req);
    const wl = req.query.get('workload');
    const node = req.query.get('node');
    const list = s.instances.list(t.id).filter((i) => (!wl || i.workload_id === wl) && (!node || i.node_id === node));
    return reply(200, { instances: list });
  });
  router.on('POST', '/tenants/:tenant/instances', async (req) => {
    const { caller: c, tenant: t } = await tenant(req);
    const { workload_id: workloadId, count, name } = await req.body(NewInstances);
    const w = visibleWorkloads(t, c).find((x) => x.id === workloadId && x.visibility !== 'internal');
    if (!w) throw new ApiError('unknown_workload', `workload ${workloadId} does not exist or is not visible to tenant ${t.id} (ciao list workloads)`);
    return reply(202, { instances: await s.instances.create(t, w, { workloadId, count, name, userId: c.userId }) });
  });
  router.on('GET', '/tenants/:tenant/instances/:id', async (req) => {
    const { tenant: t } = await tenant(req);
    return reply(200, s.instances.get(t, req.params.id));
  });
  // The tail of the instance's console, read from its node (docs/api.md, controller/console-requests.ts).
  router.on('GET', '/tenants/:tenant/instances/:id/console', async (req) => {
    const { tenant: t } = await tenant(req);
    const lines = req.query.get('lines') ?? '50';
    if (!/^(all|[0-9]{1,5})$/.test(lines) || (lines !== 'all' && Number(lines) > CONSOLE_MAX_LINES)) {
      throw badRequest(`lines must be a whole number from 0 to ${CONSOLE_MAX_LINES}, or all, not ${JSON.stringify(lines.slice(0, 20))}`);
    }
    const answer = await s.consoles.ask(s.instances.get(t, req.params.id), lines === 'all' ? null : Number(lines));
    return reply(200, answer);
  });
  router.on('POST', '/tenants/:tenant/instances/:id/action', async (req) => {
    const { caller: c, tenant: t } = await tenant(req);
    const { action, hard, image, workload } = await req.body(InstanceAction);
    if (hard !== undefined && action !== 'reboot') throw badRequest('hard is an option of reboot only');
    if (action === 'rebuild' ? image === undefined : image !== undefined && action !== 'rescue') throw badRequest('image is needed by rebuild, and an option of rebuild and rescue only');
    if ((workload !== undefined) !== (action === 'resize')) throw badRequest('workload is needed by resize, and an option of resize only');
    const id = req.params.id;
    const inst = s.instances.get(t, id);
    if (inResize(inst) && action !== 'confirm-resize' && action !== 'revert-resize') throw new ApiError('invalid_state', `instance ${id} is being resized (${inst.resize!.phase}): confirm or revert the resize first`);
    switch (action) {
      case 'stop': return reply(202, s.instances.stop(t, id));
      case 'restart': return reply(202, s.instances.restart(t, id));
      case 'pause': return reply(202, s.instances.pause(t, id, true));
      case 'unpause': return reply(202, s.instances.pause(t, id, false));
      case 'reboot': return reply(202, s.instances.reboot(t, id, hard ? 'HARD' : 'SOFT'));
      case 'suspend': return reply(202, s.instances.suspend(t, id, true));
      case 'resume': return reply(202, s.instances.suspend(t, id, false));
      case 'rebuild': return reply(202, s.instances.rebuild(t, id, image!, {}));
      case 'resize': {
        const w = visibleWorkloads(t, c).find((x) => x.id === workload && x.visibility !== 'internal');
        if (!w) throw new ApiError('unknown_workload', `workload ${workload} does not exist or is not visible to tenant ${t.id} (ciao list workloads)`);
        return reply(202, s.instances.resizes.resize(t, s.instances.unlocked(inst, false), w));
      }
      case 'confirm-resize': return reply(202, s.instances.resizes.confirm(inst));
      case 'revert-resize': return reply(202, s.instances.resizes.revert(inst));
      case 'shelve': return reply(202, s.shelving.shelve(t, id));
      case 'offload': return reply(202, s.shelving.offload(t, id));
      case 'unshelve': return reply(202, s.shelving.unshelve(t, id));
      case 'rescue': return reply(202, s.instances.rescue(t, id, image));
      case 'unrescue': return reply(202, s.instances.rescue(t, id, null));
    }
  });
  router.on('DELETE', '/tenants/:tenant/instances/:id', async (req) => {
    const { tenant: t } = await tenant(req);
    s.instances.delete(t, req.params.id);
    return reply(202);
  });
  router.on('DELETE', '/tenants/:tenant/instances', async (req) => {
    const { tenant: t } = await tenant(req);
    const all = s.instances.list(t.id);
    for (const i of all) s.instances.remove(i);
    return reply(202, { deleted: all.length });
  });

  // --- events ---
  router.on('GET', '/tenants/:tenant/events', async (req) => reply(200, { events: s.events.list((await tenant(req)).tenant.id) }));
  router.on('DELETE', '/tenants/:tenant/events', async (req) => (s.events.clear((await tenant(req)).tenant.id), reply(204)));
  router.on('GET', '/events', async (req) => (await admin(req), reply(200, { events: s.events.list() })));
  router.on('DELETE', '/events', async (req) => (await admin(req), s.events.clear(), reply(204)));

  // --- pools and external IPs ---
  router.on('GET', '/pools', async (req) => (await admin(req), reply(200, { pools: s.store.pools.all().map((p) => s.externalIps.poolView(p)) })));
  router.on('POST', '/pools', async (req) => {
    await admin(req);
    const body = await req.body(NewPool);
    const pool = s.externalIps.createPool(body.name, body.subnet ?? undefined, body.ips ?? []);
    return reply(201, s.externalIps.poolView(pool));
  });
  router.on('GET', '/pools/:name', async (req) => (await admin(req), reply(200, s.externalIps.poolView(s.externalIps.pool(req.params.name)))));
  router.on('POST', '/pools/:name/addresses', async (req) => {
    await admin(req);
    const body = await req.body(PoolAddresses);
    const pool = s.externalIps.addToPool(s.externalIps.pool(req.params.name), body.subnet ?? undefined, body.ips ?? []);
    return reply(200, s.externalIps.poolView(pool));
  });
  router.on('DELETE', '/pools/:name', async (req) => (await admin(req), s.externalIps.deletePool(req.params.name), reply(204)));
  router.on('GET', '/external-ips', async (req) => (await admin(req), reply(200, { external_ips: s.externalIps.list() })));
  router.on('GET', '/tenants/:tenant/external-ips', async (req) => reply(200, { external_ips: s.externalIps.list((await tenant(req)).tenant.id) }));
  router.on('POST', '/tenants/:tenant/external-ips', async (req) => {
    const { tenant: t } = await tenant(req);
    const body = await req.body(NewMapping);
    return reply(202, s.externalIps.map(t, body.instance_id, body.pool ?? undefined));
  });
  router.on('DELETE', '/tenants/:tenant/external-ips/:ip', async (req) => {
    const { tenant: t } = await tenant(req);
    return reply(202, s.externalIps.unmap(t, req.params.ip));
  });
  router.on('POST', '/tenants/:tenant/cnci/faults', async (req) => {
    await admin(req);
    const t = s.tenants.get(req.params.tenant);
    const { nat_failure } = await req.body(CnciFaultInput);
    s.externalIps.setNatFault(t, nat_failure);
    return reply(202, { tenant_id: t.id, nat_failure });
  });

  // --- volumes ---
  router.on('GET', '/tenants/:tenant/volumes', async (req) => reply(200, { volumes: s.volumes.list((await tenant(req)).tenant.id) }));
  router.on('POST', '/tenants/:tenant/volumes', async (req) => {
    const { tenant: t } = await tenant(req);
    const body = await req.body(NewVolume);
    const input = {
      size_mb: body.size_mb, image_id: body.image_id ?? undefined, name: body.name ?? undefined, description: body.description ?? undefined, bootable: body.bootable,
    };
    const source = await s.volumes.source(t, input.size_mb, input.image_id);
    checkQuota(s.store.quotas.get(t.id), s.instances.usage(t.id), { volumes: 1, volume_mb: source.sizeMB });
    return reply(202, s.volumes.create(t, source, input));
  });
  router.on('GET', '/tenants/:tenant/volumes/:id', async (req) => reply(200, s.volumes.get((await tenant(req)).tenant, req.params.id)));
  router.on('DELETE', '/tenants/:tenant/volumes/:id', async (req) => {
    await s.volumes.delete((await tenant(req)).tenant, req.params.id);
    return reply(204);
  });
  router.on('POST', '/tenants/:tenant/volumes/:id/attach', async (req) => {
    const { tenant: t } = await tenant(req);
    const { instance_id } = await req.body(VolumeAttach);
    return reply(202, s.volumes.attach(t, req.params.id, s.instances.get(t, instance_id)));
  });
  router.on('POST', '/tenants/:tenant/volumes/:id/detach', async (req) => reply(202, s.volumes.detach((await tenant(req)).tenant, req.params.id)));

  // --- quotas ---
  router.on('GET', '/tenants/:tenant/quotas', async (req) => {
    const { tenant: t } = await tenant(req);
    return reply(200, quotaReport(s.store.quotas.get(t.id), s.instances.usage(t.id)));
  });
  router.on('PUT', '/tenants/:tenant/quotas', async (req) => {
    await admin(req);
    const t = s.tenants.get(req.params.tenant);
    const body = await req.jsonValue();
    const unknown = Object.keys(typeof body === 'object' && body ? body : {}).filter((k) => !QUOTA_NAMES.includes(k as never));
    if (unknown.length) throw badRequest(`unknown quota ${unknown.join(', ')}: quotas are ${QUOTA_NAMES.join(', ')}`);
    const limits = { ...s.store.quotas.get(t.id)?.limits, ...parseInput(QuotaLimits, body, 'the quotas (whole numbers, -1 for unlimited)') };
    s.store.quotas.put({ id: t.id, limits });
    return reply(200, quotaReport(s.store.quotas.get(t.id), s.instances.usage(t.id)));
  });
}
