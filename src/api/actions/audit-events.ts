import { z } from 'zod';
import { defineAction } from '../action.js';
import { auditEventShape, pageOf } from '../answer-shapes.js';

/** A time as AWS clients send it: epoch seconds, or an ISO 8601 / RFC 3339 date. */
const timeField = z.union([z.number(), z.string().max(64)]).transform((value, ctx): Date => {
  const date = typeof value === 'number' ? new Date(value * 1000) : /^\d{4}-\d{2}-\d{2}/.test(value) ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) {
    ctx.addIssue({ code: 'custom', message: 'must be epoch seconds or an ISO 8601 date such as 2026-12-04T14:03:07Z' });
    return z.NEVER;
  }
  return date;
});

export const listAuditEvents = defineAction({
  name: 'listauditevents',
  access: { policyAction: 'ListAuditEvents', keyholdPrefix: true },
  schema: z.object({
    starttime: timeField.optional(),
    endtime: timeField.optional(),
    keyid: z.string().min(1).max(2048).optional(),
    principal: z.string().min(1).max(128).optional(),
    action: z.string().min(1).max(128).optional(),
    outcome: z.string().min(1).max(128).optional(),
    limit: z.number().int().optional(),
    marker: z.string().min(1).max(1024).optional(),
    verify: z.boolean().optional(),
  }),
  answer: pageOf('Events', auditEventShape),
  async handle(input, { audit }) {
    const page = await audit.list({
      startTime: input.starttime,
      endTime: input.endtime,
      keyId: input.keyid,
      principal: input.principal,
      action: input.action,
      outcome: input.outcome,
      limit: input.limit,
      marker: input.marker,
      verify: input.verify,
    });
    return { Events: page.events, Truncated: page.truncated, ...(page.nextMarker ? { NextMarker: page.nextMarker } : {}) };
  },
});
