/**
 * Short-lived stream tokens: a browser's `EventSource` cannot send an
 * `Authorization` header, so an authenticated client asks
 * `POST /executions/:id/stream-token` for a token that opens that one
 * execution's stream (`?token=`) for a few minutes. The token is
 * `<expiry>.<HMAC-SHA256(api token, "<id>.<expiry>")>`: nothing is stored,
 * it names no secret, and it opens nothing else.
 *
 * @module
 */

/** How long a stream token opens its stream (reconnects included), in ms. */
export const STREAM_TOKEN_TTL_MS = 10 * 60_000;

const encoder = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

function _key(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey(
      "raw",
      encoder.encode(`oao-stream-token:${secret}`),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    keys.set(secret, key);
  }
  return key;
}

async function _mac(secret: string, text: string): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", await _key(secret), encoder.encode(text));
  return btoa(String.fromCharCode(...new Uint8Array(mac)))
    .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * Issues a token for one execution's stream.
 *
 * @param secret The API token.
 * @param executionId The execution.
 * @param now The current time (epoch ms).
 * @returns The token and when it expires.
 */
export async function issueStreamToken(
  secret: string,
  executionId: string,
  now: number,
): Promise<{ token: string; expiresAt: number }> {
  const expiresAt = now + STREAM_TOKEN_TTL_MS;
  return { token: `${expiresAt}.${await _mac(secret, `${executionId}.${expiresAt}`)}`, expiresAt };
}

/**
 * Whether a token opens an execution's stream now.
 *
 * @param secret The API token.
 * @param executionId The execution the stream is of.
 * @param token The token given (`?token=`).
 * @param now The current time (epoch ms).
 * @returns Whether it is valid, unexpired and for this execution.
 */
export async function verifyStreamToken(
  secret: string,
  executionId: string,
  token: string,
  now: number,
): Promise<boolean> {
  const match = /^(\d{13,16})\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!match) return false;
  const expiresAt = Number(match[1]);
  if (!(expiresAt > now) || expiresAt > now + STREAM_TOKEN_TTL_MS) return false;
  const expected = await _mac(secret, `${executionId}.${expiresAt}`);
  let diff = 0;
  for (let i = 0; i < expected.length; i++) {
    diff |= expected.charCodeAt(i) ^ match[2]!.charCodeAt(i);
  }
  return diff === 0;
}
