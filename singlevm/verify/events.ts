// The cluster's events as verify's proof that an action happened: a step acts, then waits for a
// new event (one not there before) that says so.
import { waitFor } from '../../shared/wait-for.ts';
import type { ClusterEvent } from '../../controller/api-types.ts';
import type { VerifyContext } from './context.ts';
import { userTenant, type Tenant } from './instance-waits.ts';

export async function eventsOf({ client, path }: Tenant): Promise<ClusterEvent[]> {
  return (await client.call<{ events: ClusterEvent[] }>('GET', `${path}/events`)).events;
}

/** Runs `action`, then waits for a new event in `tenant` (the user's by default) matching `re`. */
export async function expectEvent(ctx: VerifyContext, re: RegExp, action: () => Promise<unknown>, tenant = userTenant(ctx)): Promise<ClusterEvent> {
  const seen = new Set((await eventsOf(tenant)).map((e) => e.id));
  await action();
  return waitFor(`an event ${re}`, async () => (await eventsOf(tenant)).find((e) => !seen.has(e.id) && re.test(e.message)), { timeoutMs: ctx.timeouts.eventMs });
}

/** `s` matched literally in a RegExp (an IP's dots, an id). */
export const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
