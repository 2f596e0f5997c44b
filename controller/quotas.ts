// Quota limits and usage of a tenant, and the check a new request must pass.
import { ApiError } from '../shared/errors.ts';
import { QUOTA_NAMES, type ComputeQuotaName, type QuotaName, type Quotas } from './api-types.ts';

export type Usage = Record<QuotaName, number>;

export const UNLIMITED = -1;

export function limitOf(quotas: Quotas | undefined, name: QuotaName | ComputeQuotaName): number {
  return quotas?.limits[name] ?? UNLIMITED;
}

/** Throws over_quota naming the first limit the request would pass. */
export function checkQuota(quotas: Quotas | undefined, usage: Usage, request: Partial<Usage>): void {
  for (const name of QUOTA_NAMES) {
    const want = request[name] ?? 0;
    const limit = limitOf(quotas, name);
    if (want > 0 && limit !== UNLIMITED && usage[name] + want > limit) {
      throw new ApiError('over_quota', `quota ${name} is ${limit} and ${usage[name]} is in use: this request needs ${want} more`);
    }
  }
}

export function quotaReport(quotas: Quotas | undefined, usage: Usage) {
  return { quotas: QUOTA_NAMES.map((name) => ({ name, limit: limitOf(quotas, name), usage: usage[name] })) };
}
