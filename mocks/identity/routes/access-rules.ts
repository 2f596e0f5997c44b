// /v3/users/{id}/access_rules: the rules a user's application credentials are limited by (a method,
// a path template, a service type). A credential names new rules or existing ones by id; the same
// rule is kept once per user and shared. The controller enforces them on the credential's tokens
// (controller/access-rules.ts), which carry them in application_credential.access_rules.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { reply, type Request, type Router } from '../../../shared/http-router.ts';
import type { AccessRule, User } from '../config.ts';
import { forbidden, found, type Helpers, type IdentityContext } from '../context.ts';

/** Keystone's schema: a rule by id, or a new one (its path starts with /). */
export const AccessRuleInput = z.union([
  z.object({ id: z.string().min(1).max(64) }).strict(),
  z.object({
    service: z.string().min(1).max(225), path: z.string().max(225).regex(/^\//, 'a path starting with /'),
    method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']),
  }).strict(),
]);
const RULES_PER_USER = 100;

export const accessRuleView = (r: AccessRule) => ({ id: r.id, service: r.service, path: r.path, method: r.method });

export function addAccessRuleRoutes(router: Router, ctx: IdentityContext, h: Helpers) {
  const { config } = ctx;
  const ofUser = (user: User) => config.access_rules.filter((r) => r.user_id === user.id);
  /** The user in the path, who must be the caller or an admin. */
  const owner = (req: Request) => {
    const c = h.caller(req);
    const user = h.userById(req.params.id);
    if (!c.isAdmin && c.user.id !== user.id) throw forbidden('Access rules are seen by their own user (or an admin) only.');
    return user;
  };
  const byId = (req: Request) => found(ofUser(owner(req)).find((r) => r.id === req.params.rule), 'access rule', req.params.rule);
  const inUse = (rule: AccessRule) => config.application_credentials.some((a) => a.access_rules.includes(rule.id));

  router.on('GET', '/v3/users/:id/access_rules', async (req) => {
    const rules = ofUser(owner(req)).filter((r) => ['service', 'path', 'method'].every((k) => {
      const want = req.query.get(k);
      return want === null || r[k as 'service' | 'path' | 'method'] === want;
    }));
    return h.list('access_rules', rules.map(accessRuleView), req);
  });
  router.on('GET', '/v3/users/:id/access_rules/:rule', async (req) => reply(200, { access_rule: accessRuleView(byId(req)) }));
  router.on('DELETE', '/v3/users/:id/access_rules/:rule', async (req) => {
    const rule = byId(req);
    if (inUse(rule)) throw forbidden(`Access rule ${rule.id} is used by an application credential: delete the credential first.`);
    config.access_rules = config.access_rules.filter((r) => r !== rule);
    h.changed('access rule deleted', rule);
    return reply(204);
  });

  return {
    /** The ids of the rules a new credential names: existing ones of the user, and new ones made
     *  (or found, when the user already has the same rule). Nothing is saved here: the caller saves. */
    resolve(user: User, inputs: z.infer<typeof AccessRuleInput>[]): string[] {
      const ids = inputs.map((input) => {
        if ('id' in input) return found(ofUser(user).find((r) => r.id === input.id), 'access rule', input.id).id;
        const same = ofUser(user).find((r) => r.service === input.service && r.path === input.path && r.method === input.method);
        if (same) return same.id;
        if (ofUser(user).length >= RULES_PER_USER) throw forbidden(`A user keeps at most ${RULES_PER_USER} access rules: delete unused ones first.`);
        const rule: AccessRule = { id: randomUUID().replaceAll('-', ''), user_id: user.id, ...input };
        config.access_rules.push(rule);
        return rule.id;
      });
      return [...new Set(ids)];
    },
    /** The rules of a credential, in Keystone's shape. */
    view: (ids: string[]) => config.access_rules.filter((r) => ids.includes(r.id)).map(accessRuleView),
  };
}
export type AccessRules = ReturnType<typeof addAccessRuleRoutes>;
