/**
 * Who may write an execution's log in the Redis event store: fencing tokens
 * and the claim of the runner that holds the execution, all in its meta hash
 * and each changed atomically by a Lua script (`_scripts.ts`). A claim is
 * timed on the Redis server's clock.
 *
 * Fencing or claiming an execution marks its head (`_append_heads.ts`), so
 * that its appends take the script path, where the token is checked
 * atomically with the append.
 *
 * @module
 */
import type { ClaimRequest, ClaimResult } from "../events/event_store.ts";
import { _checkClaim, _checkExecutionId, _checkToken } from "../events/_event_codec.ts";
import type { _StoreClient } from "./_store_client.ts";
import type { _AppendHeads } from "./_append_heads.ts";
import { _eventKeys } from "./_event_keys.ts";

/** What {@linkcode _ExecutionClaims} works with, beyond the store's client. */
export interface _ExecutionClaimsOptions {
  /** The store's heads, marked fenced. */
  heads: _AppendHeads;
  /** The store's retention (ms): the expiry of a meta hash a fence or claim creates. */
  retentionMs: number;
}

/** @internal The fences and claims of one event store (see `RedisEventStore` for each). */
export class _ExecutionClaims {
  #redis: _StoreClient;
  #options: _ExecutionClaimsOptions;

  /**
   * @param redis The store's client.
   * @param options Heads and retention.
   */
  constructor(redis: _StoreClient, options: _ExecutionClaimsOptions) {
    this.#redis = redis;
    this.#options = options;
  }

  /**
   * Registers a fencing token.
   *
   * @param executionId The execution.
   * @param token The new owner's token.
   * @returns Once registered.
   */
  async fence(executionId: string, token: number): Promise<void> {
    _checkExecutionId(executionId);
    _checkToken(token, "token");
    const meta = this.#meta(executionId);
    const ttlMs = this.#options.retentionMs;
    this.#options.heads.get(executionId).fenced = true;
    await this.#redis.run(
      `fence("${executionId}")`,
      (_, scripts) => scripts.oaoFence(meta, token, ttlMs),
    );
  }

  /**
   * Claims an execution for one runner, with a new fencing token.
   *
   * @param executionId The execution.
   * @param request Owner, duration and whether to take over from a live holder.
   * @returns The token, or who holds the execution.
   */
  async claim(executionId: string, request: ClaimRequest): Promise<ClaimResult> {
    _checkExecutionId(executionId);
    _checkClaim(request);
    const meta = this.#meta(executionId);
    const retentionMs = this.#options.retentionMs;
    const [ok, value, expiresInMs] = await this.#redis.run(
      `claim("${executionId}")`,
      (_, scripts) =>
        scripts.oaoClaim(
          meta,
          request.owner,
          request.ttlMs,
          request.takeOver ? "1" : "",
          retentionMs,
          request.replacing ?? "",
        ),
    );
    this.#options.heads.get(executionId).fenced = true;
    return ok === 1
      ? { acquired: true, token: Number(value) }
      : { acquired: false, holder: String(value), expiresInMs: Number(expiresInMs) };
  }

  /**
   * Extends the caller's claim by `ttlMs` from now.
   *
   * @param executionId The execution.
   * @param token The caller's token.
   * @param ttlMs New duration from now.
   * @returns Whether the claim is still the caller's.
   */
  async renewClaim(executionId: string, token: number, ttlMs: number): Promise<boolean> {
    _checkExecutionId(executionId);
    _checkToken(token, "token");
    _checkClaim({ owner: "", ttlMs });
    const meta = this.#meta(executionId);
    return (await this.#redis.run(
      `renewClaim("${executionId}")`,
      (_, scripts) => scripts.oaoRenewClaim(meta, token, ttlMs),
    )) === 1;
  }

  /**
   * Gives up the caller's claim, if it still holds it.
   *
   * @param executionId The execution.
   * @param token The caller's token.
   * @returns Once released.
   */
  async releaseClaim(executionId: string, token: number): Promise<void> {
    _checkExecutionId(executionId);
    _checkToken(token, "token");
    const meta = this.#meta(executionId);
    await this.#redis.run(
      `releaseClaim("${executionId}")`,
      (_, scripts) => scripts.oaoReleaseClaim(meta, token),
    );
  }

  #meta(executionId: string): string {
    return _eventKeys(this.#redis.prefix, executionId).meta;
  }
}
