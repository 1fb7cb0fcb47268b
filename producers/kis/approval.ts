import { AppError } from '../../lib/errors.js';

export interface Credentials {
  appKey: string;
  appSecret: string;
}

export interface ApprovalOptions {
  timeoutMs?: number;
  /** Waits between tries when the REST rate limit (EGW00201) answers. */
  rateLimitWaitMs?: number;
  rateLimitTries?: number;
}

const RATE_LIMITED = 'EGW00201';

/**
 * Issues a WebSocket approval key: `POST {rest}/oauth2/Approval` with the app key and secret. Errors
 * never carry the request or the response body (both hold credentials): only the status and the
 * broker's error code. 4xx answers mean the credentials were refused (not retryable); network
 * errors and 5xx are retryable; the REST rate limit is waited out here.
 */
export async function requestApprovalKey(restUrl: string, credentials: Credentials, options: ApprovalOptions = {}): Promise<string> {
  const tries = options.rateLimitTries ?? 5;
  for (let attempt = 1; ; attempt++) {
    let res: Response;
    let body: Record<string, unknown> = {};
    try {
      res = await fetch(`${restUrl}/oauth2/Approval`, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify({ grant_type: 'client_credentials', appkey: credentials.appKey, secretkey: credentials.appSecret }),
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      });
      body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    } catch (err) {
      throw new AppError('KIS_UPSTREAM_UNAVAILABLE', `approval request failed: ${(err as Error).name}: ${(err as Error).message}`, { retryable: true });
    }
    const code = typeof body['msg_cd'] === 'string' ? body['msg_cd'] : typeof body['error_code'] === 'string' ? body['error_code'] : undefined;
    if (code === RATE_LIMITED) {
      if (attempt >= tries) throw new AppError('KIS_UPSTREAM_UNAVAILABLE', `approval request rate-limited (${RATE_LIMITED}) ${attempt} times`, { retryable: true });
      await new Promise((r) => setTimeout(r, options.rateLimitWaitMs ?? 1_100));
      continue;
    }
    const key = body['approval_key'];
    if (res.ok && typeof key === 'string' && key.length > 0) return key;
    const what = `approval request answered HTTP ${res.status}${code ? ` ${code}` : ''}`;
    if (res.status >= 400 && res.status < 500) {
      throw new AppError('KIS_AUTH_REJECTED', `${what}: the app key or secret was refused`, { retryable: false, context: { status: res.status, code } });
    }
    throw new AppError('KIS_UPSTREAM_UNAVAILABLE', `${what} without an approval key`, { retryable: true, context: { status: res.status, code } });
  }
}
