/**
 * The principal `authorize` granted a request (it may answer `{ principal }` instead of `true`),
 * kept per request for the audit trail's actor.
 */
import type { Request } from 'express';

/**
 * What `authorize` may answer instead of `true`: the request is allowed, as `principal`, whom the
 * audit trail records as the actor of what the request changes (see `RouterOptions.actor`).
 */
export interface AuthorizeGrant {
  readonly principal: string;
}

const principals = new WeakMap<Request, string>();

/** Whether an `authorize` answer allows the request; a grant's principal is kept for the request. */
export function allows(req: Request, answer: boolean | AuthorizeGrant): boolean {
  if (answer === true) return true;
  if (typeof answer === 'object' && answer !== null && typeof answer.principal === 'string') {
    principals.set(req, answer.principal);
    return true;
  }
  return false;
}

/** The principal `authorize` granted `req`, if it answered with one (the default `actor`). */
export function grantedPrincipal(req: Request): string | undefined {
  return principals.get(req);
}
