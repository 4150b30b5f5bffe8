import type { z } from 'zod';
import type { Principal } from '../auth/principal.js';
import type { KeyService } from '../kms/key-service.js';

/** What an action handler gets besides its validated input. */
export interface ActionContext {
  keyService: KeyService;
  principal: Principal;
  /** `go-kms` when the request came through the go-kms compatibility prefix. */
  dialect: 'kms' | 'go-kms';
}

/**
 * One API action: its name (the last path segment), the schema of its request (lower-case
 * field names, see fields.ts) and the handler that maps it onto KeyService.
 */
export interface Action<S extends z.ZodType = z.ZodType> {
  name: string;
  schema: S;
  handle(input: z.output<S>, context: ActionContext): Promise<object> | object;
}

export function defineAction<S extends z.ZodType>(action: Action<S>): Action<S> {
  return action;
}

/** Bytes in a response are standard base64, as in AWS KMS. */
export function base64(bytes: Buffer): string {
  return bytes.toString('base64');
}
