/**
 * Errors as HTTP answers: `{ error: { code, message, details } }` with the status of the error's
 * code. 5xx answers never carry the message or stack of the error (they may hold internals);
 * the host's `onError` gets the real error.
 */
import type { ErrorRequestHandler, Request } from 'express';
import { isTrellisError, TrellisError, type TrellisErrorCode } from '../kernel/errors.js';

/** The HTTP status of a Trellis error code. */
export function httpStatusFor(code: TrellisErrorCode): number {
  switch (code) {
    case 'validation_failed':
    case 'invalid_input':
    case 'expression_parse':
    case 'bad_request':
      return 400;
    case 'auth':
      return 401;
    case 'forbidden':
      return 403;
    case 'not_found':
      return 404;
    case 'method_not_allowed':
      return 405;
    case 'illegal_state':
    case 'conflict':
      return 409;
    case 'payload_too_large':
      return 413;
    case 'unsupported_media_type':
      return 415;
    default:
      return 500;
  }
}

/** The JSON body of an error answer. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly details: unknown };
}

/** Status and body for any thrown value. */
export function toErrorResponse(error: unknown): { status: number; body: ErrorBody } {
  const known = isTrellisError(error) ? error : fromBodyParser(error);
  if (!known) return internal();
  const status = httpStatusFor(known.code);
  if (status >= 500) return internal();
  const validation = status === 400 && known.code !== 'bad_request';
  return { status, body: { error: { code: known.code, message: known.message, details: validation ? known.issues : (known.details ?? null) } } };
}

function internal(): { status: number; body: ErrorBody } {
  return { status: 500, body: { error: { code: 'internal', message: 'Internal server error', details: null } } };
}

/** express.json / express.raw errors carry a `type` and a 4xx `status`. */
function fromBodyParser(error: unknown): TrellisError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { type, status, limit } = error as { type?: unknown; status?: unknown; limit?: unknown };
  if (typeof type !== 'string' || typeof status !== 'number' || status < 400 || status >= 500) return undefined;
  if (type === 'entity.too.large') return new TrellisError('payload_too_large', `Request body is larger than the limit of ${String(limit)} bytes`, { details: { limit } });
  if (type === 'entity.parse.failed') return new TrellisError('validation_failed', 'Request body is not valid JSON', { issues: [{ path: ['body'], code: 'invalid_json', message: 'Request body is not valid JSON' }] });
  return new TrellisError('bad_request', `Request body could not be read (${type})`);
}

/** The router's last middleware: answers every error as JSON. */
export function errorHandler(onError: (error: unknown, req: Request) => void): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    const { status, body } = toErrorResponse(error);
    if (status >= 500) onError(error, req);
    // An event stream already sent its headers; the only thing left to do is close it.
    if (res.headersSent) return next(error);
    res.status(status).json(body);
  };
}
