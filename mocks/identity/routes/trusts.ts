// /v3/OS-TRUST/trusts: a trustor delegates some of their roles on a project to a trustee, who then
// gets trust-scoped tokens (auth.scope "OS-TRUST:trust") carrying those roles, as the trustor
// (impersonation) or as themselves. As in Keystone: a trust may expire, may be limited to a number
// of tokens (remaining_uses), and may be passed on (redelegated) a bounded number of times with no
// more roles or time than it has; deleting it ends its tokens and the trusts made from it.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { badRequest } from '../../../shared/errors.ts';
import { reply, type Request, type Router } from '../../../shared/http-router.ts';
import type { Trust, User } from '../config.ts';
import { withImplied } from '../effective-roles.ts';
import { forbidden, found, instant, notFound, parse, unauthorized, type Caller, type Helpers, type IdentityContext } from '../context.ts';
import type { Views } from '../views.ts';

/** Keystone's [trust] max_redelegation_count. */
export const MAX_REDELEGATION_COUNT = 3;
const TRUSTS_PER_USER = 100;
const ISO_8601 = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,9})?)?(Z|[+-]\d\d:?\d\d)?$/;

const RoleRef = z.object({ id: z.string().max(64).optional(), name: z.string().max(255).optional() }).refine((r) => r.id || r.name, 'a role id or name');
const NewTrust = z.object({
  trust: z.object({
    trustor_user_id: z.string().min(1).max(64),
    trustee_user_id: z.string().min(1).max(64),
    project_id: z.string().min(1).max(64).nullish(),
    roles: z.array(RoleRef).max(100).optional(),
    impersonation: z.boolean(),
    expires_at: z.string().max(64).regex(ISO_8601, 'an ISO 8601 timestamp').refine((s) => !Number.isNaN(instant(s)), 'a real date').nullish(),
    remaining_uses: z.number().int().positive().nullish(),
    allow_redelegation: z.boolean().optional(),
    redelegation_count: z.number().int().nonnegative().nullish(),
  }),
});
type NewTrust = z.infer<typeof NewTrust>['trust'];

/** The trust scope of a login. */
export const TrustScope = z.object({ id: z.string().min(1).max(64) });

export function addTrustRoutes(router: Router, ctx: IdentityContext, h: Helpers, v: Views) {
  const { config } = ctx;
  const rolesOf = (t: Trust) => config.roles.filter((r) => t.roles.includes(r.name));
  const view = (t: Trust) => ({
    id: t.id, trustor_user_id: t.trustor_user_id, trustee_user_id: t.trustee_user_id, project_id: t.project_id,
    impersonation: t.impersonation, expires_at: t.expires_at, remaining_uses: t.remaining_uses,
    allow_redelegation: t.allow_redelegation, redelegation_count: t.redelegation_count, redelegated_trust_id: t.redelegated_trust_id,
    roles: rolesOf(t).map(v.roleView), roles_links: { self: `${ctx.baseUrl()}/v3/OS-TRUST/trusts/${t.id}/roles`, next: null, previous: null },
    links: h.links(`OS-TRUST/trusts/${t.id}`),
  });
  /** A live trust its trustor, its trustee or an admin may see; any other caller is refused. */
  const visible = (req: Request) => {
    const c = h.caller(req);
    const trust = found(h.activeTrust(req.params.id), 'trust', req.params.id);
    if (!c.isAdmin && ![trust.trustor_user_id, trust.trustee_user_id].includes(c.user.id)) throw forbidden('Only the trustor or the trustee of a trust may see it.');
    return { c, trust };
  };

  /** The parent when the caller's token is itself trust-scoped (a redelegation), checked against it. */
  const redelegation = (c: Caller, body: NewTrust, roles: string[]) => {
    if (c.payload.trust_id === undefined) return undefined;
    const parent = found(h.activeTrust(c.payload.trust_id), 'trust', c.payload.trust_id);
    if (!parent.allow_redelegation || parent.redelegation_count < 1) throw forbidden(`Trust ${parent.id} may not be redelegated.`);
    if (body.project_id !== parent.project_id) throw forbidden('A redelegated trust is for the project of the trust it comes from.');
    if (roles.some((r) => !parent.roles.includes(r))) throw forbidden('A redelegated trust cannot delegate roles the trust it comes from does not.');
    if (body.impersonation && !parent.impersonation) throw forbidden('A trust without impersonation cannot be redelegated with it.');
    if (parent.expires_at !== null && (body.expires_at == null || instant(body.expires_at) > instant(parent.expires_at))) {
      throw forbidden('A redelegated trust cannot outlive the trust it comes from.');
    }
    if (body.redelegation_count != null && body.redelegation_count >= parent.redelegation_count) {
      throw forbidden(`A redelegated trust may be passed on fewer times than its parent (${parent.redelegation_count}).`);
    }
    return parent;
  };

  router.on('POST', '/v3/OS-TRUST/trusts', async (req) => {
    const c = h.caller(req);
    const { trust: body } = parse(NewTrust, await req.jsonValue());
    if (c.payload.application_credential_id) throw forbidden('A token of an application credential cannot create trusts.');
    if (body.trustor_user_id !== c.user.id) throw forbidden('A trust is created by its trustor: trustor_user_id must be the user of the token.');
    const trustee = h.userById(body.trustee_user_id);
    if (!body.project_id) throw badRequest('project_id is required: this identity service only keeps trusts on a project.');
    const project = h.projectById(body.project_id);
    if (!body.roles?.length) throw badRequest('roles: a trust on a project delegates at least one role.');
    if (body.remaining_uses != null && body.allow_redelegation) throw badRequest('remaining_uses must not be set if redelegation is allowed.');
    if (body.redelegation_count != null && body.redelegation_count > MAX_REDELEGATION_COUNT) {
      throw forbidden(`Requested redelegation depth of ${body.redelegation_count} is greater than allowed ${MAX_REDELEGATION_COUNT}.`);
    }
    const roles = [...new Set(body.roles.map((r) => h.roleById(r.id ?? r.name!).name))];
    const parent = redelegation(c, body, roles);
    if (!parent) {
      const held = h.roleNames(c.user, project.id);
      const missing = roles.filter((r) => !held.includes(r));
      if (missing.length) throw forbidden(`User ${c.user.name} does not hold ${missing.join(', ')} on project ${project.name}.`);
    }
    if (config.trusts.filter((t) => t.trustor_user_id === c.user.id).length >= TRUSTS_PER_USER) {
      throw forbidden(`A user keeps at most ${TRUSTS_PER_USER} trusts: delete one first.`);
    }
    const count = parent ? body.redelegation_count ?? parent.redelegation_count - 1 : body.allow_redelegation ? body.redelegation_count ?? MAX_REDELEGATION_COUNT : 0;
    const trust: Trust = {
      id: randomUUID().replaceAll('-', ''), trustor_user_id: c.user.id, trustee_user_id: trustee.id, project_id: project.id, roles,
      impersonation: body.impersonation, expires_at: body.expires_at ?? null, remaining_uses: body.remaining_uses ?? null,
      allow_redelegation: (parent ? parent.allow_redelegation : body.allow_redelegation ?? false) && count > 0, redelegation_count: count,
      redelegated_trust_id: parent?.id ?? null,
    };
    config.trusts.push(trust);
    h.changed('trust created', trust, { trustor: c.user.name, trustee: trustee.name, project: project.name });
    return reply(201, { trust: view(trust) });
  });

  router.on('GET', '/v3/OS-TRUST/trusts', async (req) => {
    const c = h.caller(req);
    const trustor = req.query.get('trustor_user_id');
    const trustee = req.query.get('trustee_user_id');
    // Keystone: anyone may list the trusts they are a party to; all of them is for admins.
    const own = (trustor !== null && trustor === c.user.id) || (trustee !== null && trustee === c.user.id);
    if (!c.isAdmin && !own) throw forbidden('List your own trusts with ?trustor_user_id= or ?trustee_user_id= your user id; all trusts is for admins.');
    const trusts = config.trusts.filter((t) => h.activeTrust(t.id) && (trustor === null || t.trustor_user_id === trustor) && (trustee === null || t.trustee_user_id === trustee));
    return h.list('trusts', trusts.map(view), req);
  });
  router.on('GET', '/v3/OS-TRUST/trusts/:id', async (req) => reply(200, { trust: view(visible(req).trust) }));
  router.on('GET', '/v3/OS-TRUST/trusts/:id/roles', async (req) => h.list('roles', rolesOf(visible(req).trust).map(v.roleView), req));
  router.on('GET', '/v3/OS-TRUST/trusts/:id/roles/:role', async (req) => {
    const { trust } = visible(req);
    const role = rolesOf(trust).find((r) => r.id === req.params.role);
    if (!role) throw notFound('role in trust', req.params.role);
    return reply(200, { role: v.roleView(role) });
  });
  router.on('DELETE', '/v3/OS-TRUST/trusts/:id', async (req) => {
    const { c, trust } = visible(req);
    if (!c.isAdmin && c.user.id !== trust.trustor_user_id) throw forbidden('Only the trustor of a trust (or an admin) may delete it.');
    const gone = [trust.id];
    for (let i = 0; i < gone.length; i++) gone.push(...config.trusts.filter((t) => t.redelegated_trust_id === gone[i]).map((t) => t.id));
    config.trusts = config.trusts.filter((t) => !gone.includes(t.id));
    h.changed('trust deleted', trust, { with_redelegated: gone.length - 1 });
    return reply(204);
  });

  return {
    /** What a trustee's login scoped to a trust gets: the trust's project, the trustor's delegated
     *  roles they still hold, and the trustor as the token's user when it impersonates. One use is spent. */
    consume(ref: z.infer<typeof TrustScope>, trustee: User, now: number) {
      const trust = h.activeTrust(ref.id, now);
      if (!trust || trust.remaining_uses === 0) throw unauthorized(`Trust ${ref.id} does not exist, has expired or is used up.`);
      if (trust.trustee_user_id !== trustee.id) throw forbidden(`User ${trustee.name} is not the trustee of trust ${trust.id}.`);
      const project = h.projectById(trust.project_id);
      if (!h.usable(project)) throw unauthorized(`The project ${project.name} or its domain is disabled.`);
      const trustor = h.userById(trust.trustor_user_id);
      const holder = h.rolesHolder(trust);
      const held = holder ? h.roleNames(holder, project.id) : [];
      const roles = [...new Set(trust.roles.flatMap((r) => withImplied(config, r)))].filter((r) => held.includes(r));
      if (!roles.length) throw forbidden(`The trustor of trust ${trust.id} no longer holds any of its roles.`);
      if (trust.remaining_uses !== null) {
        trust.remaining_uses--;
        h.changed('trust used', trust, { remaining_uses: trust.remaining_uses });
      }
      const expiresAt = trust.expires_at === null ? Infinity : instant(trust.expires_at);
      return { trust, user: trust.impersonation ? trustor : trustee, project, roles, expiresAt };
    },
  };
}
export type Trusts = ReturnType<typeof addTrustRoutes>;
