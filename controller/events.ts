// The event log: timestamped, per tenant (null = cluster events only admins see), clearable.
// Events are kept in the order they happened (collections keep insertion order).
import { randomUUID } from 'node:crypto';
import type { ClusterEvent } from './api-types.ts';
import type { Collection } from './datastore/datastore.ts';

export class EventLog {
  constructor(private readonly events: Collection<ClusterEvent>) {}

  add(tenantId: string | null, type: ClusterEvent['type'], message: string): ClusterEvent {
    const event: ClusterEvent = { id: randomUUID(), tenant_id: tenantId, time: new Date().toISOString(), type, message };
    this.events.put(event);
    return event;
  }

  /** A tenant's events, or every event when tenantId is undefined. */
  list(tenantId?: string | null): ClusterEvent[] {
    return tenantId === undefined ? this.events.all() : this.events.byTenant(tenantId);
  }

  clear(tenantId?: string | null): void {
    for (const e of this.list(tenantId)) this.events.delete(e.id);
  }
}
