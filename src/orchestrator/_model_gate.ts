// The model gate of an execution: every model call an agent makes
// (`ctx.generateText`) passes here. Like a tool call it gets a key — the hash
// of the request plus its occurrence — and is answered from the ledger (or,
// after a resume, the log) when it completed before, joined when a previous
// run of the step started it and it still runs, and otherwise checked
// against the budgets (refused before it is made when its maxOutputTokens
// could exceed maxTokens or maxCostUsd; without maxOutputTokens, sent with
// what the budgets have left as its bound), written ahead to the log
// (MODEL_CALL_STARTED), made by the host (retries recorded as
// RETRY_ATTEMPTED) and recorded with its usage, cost and whole result
// (MODEL_CALL_COMPLETED, or MODEL_CALL_FAILED, with the usage and cost of
// an answer that was received and then failed). A call whose start a crash
// left without an outcome is made again, and its cost counted again. Each
// call is a `chat <model>` span following the OpenTelemetry GenAI
// conventions, without prompts or completions. Internal: each ExecutionRun
// has one.
import { type ErrorInfo, FencedError, fromErrorInfo, OaoError } from "../errors.ts";
import { redactText } from "../logging/redaction.ts";
import type { ModelCallResult, ModelUsage } from "../model/model_call.ts";
import { ModelCallError, type ModelFailureReason } from "../model/model_errors.ts";
import type { ModelId } from "../model/model_id.ts";
import { priceKeys } from "../model/prices.ts";
import type { Attributes } from "../tracing/span_data.ts";
import type { Span } from "../tracing/tracer.ts";
import type { GenerateTextRequest, ModelServiceRequest } from "./agent.ts";
import { canonicalJson, sha256Hex } from "./canonical_json.ts";
import { roundUsd } from "./policy.ts";
import { callKey } from "./tool.ts";
import type { GateRun } from "./_tool_gate.ts";
import type { Outcome } from "./_tool_ledger.ts";
import { assertJsonWithin } from "./_boundary.ts";
import { TextDeltaRelay } from "./_text_deltas.ts";

/** The largest output bound sent in place of a call's missing maxOutputTokens. */
const SAFE_OUTPUT_BOUND = 4_096;

/**
 * Failures a retry of the step would only repeat: the model layer retried
 * 429, 5xx and network failures already (up to its `maxAttempts`, or it
 * gave up on a `Retry-After` beyond its bound), and the others fail the
 * same way each time. Retries would multiply: 4 model attempts in each of 3
 * step attempts are 12 calls to a provider that is down. A timeout, a stream
 * broken after text went out and an invalid output are left to the step's
 * retries (the model layer makes them once).
 */
const FINAL_REASONS: ReadonlySet<ModelFailureReason> = new Set([
  "rate_limited",
  "provider_error",
  "network",
  "bad_request",
  "auth",
  "missing_key",
  "unpriced",
]);

/**
 * The hash of a model call: SHA-256 of the canonical JSON of `{ model: request }`
 * (a shape no tool call's `{ tool, args }` has, so the two never share keys).
 */
export async function modelCallHash(request: GenerateTextRequest): Promise<string> {
  return await sha256Hex(canonicalJson({ model: request }));
}

export class ModelGate {
  readonly #run: GateRun;

  constructor(run: GateRun) {
    this.#run = run;
  }

  /**
   * Handles a model call from the agent: governed, journaled, made once.
   *
   * @param call The agent's call, validated.
   * @returns The result, from the provider, the ledger or the log.
   * @throws {PolicyViolationError | ModelCallError | TypeError | RangeError} As the run decides.
   */
  async call(call: ModelServiceRequest): Promise<ModelCallResult> {
    const run = this.#run;
    // As for tool calls: a step run again after an activation reports again
    // the tokens it reported before its calls answered from the ledger.
    const replaying = run.replaying;
    if (!replaying) run.totals.tokens += call.tokens;
    run.throwIfFatal();
    this.#assertStep(call.step);
    const id = run.host.models.modelId(call.request.model);
    const hash = await modelCallHash(call.request);
    this.#assertStep(call.step); // the step may have ended while the hash was computed
    run.ledger.enterRun(call.run);
    const occurrence = run.ledger.nextOccurrence(hash);
    const key = callKey(hash, occurrence);
    if (replaying && !(run.ledger.outcome(key) ?? run.ledger.running(key))) {
      run.replaying = false;
      run.totals.tokens += call.tokens;
    }
    const running = run.ledger.running(key);
    if (running) {
      const joined = await running;
      if (joined.ok) return joined.result as ModelCallResult;
      throw fromErrorInfo(joined.error ?? { name: "Error", message: `Model "${id.id}" failed` });
    }
    let settle!: (outcome: Outcome) => void;
    run.ledger.start(key, new Promise<Outcome>((resolve) => (settle = resolve)));
    let settled: Outcome = {
      ok: false,
      error: {
        name: "Error",
        message: `The outcome of model call "${id.id}" could not be recorded`,
      },
    };
    try {
      return await this.#gated(
        call.request,
        id,
        { hash, occurrence, key, stream: call.stream === true },
        (o) => (settled = o),
      );
    } finally {
      settle(settled);
    }
  }

  #assertStep(step: number): void {
    if (step !== this.#run.step) {
      throw new OaoError(
        "STALE_STEP",
        `Model call from step ${step} refused: the execution is at step ${this.#run.step}`,
      );
    }
  }

  // The rest of a call, once its key is claimed: the answer from the ledger
  // or the log, or the admitted, recorded and traced call.
  async #gated(
    request: GenerateTextRequest,
    id: ModelId,
    call: { hash: string; occurrence: number; key: string; stream: boolean },
    known: (outcome: Outcome) => void,
  ): Promise<ModelCallResult> {
    const run = this.#run;
    const { key } = call;
    const step = run.step;
    let outcome = run.ledger.outcome(key);
    if (!outcome && run.ledger.resumed) {
      const stored = await run.host.eventStore.findByKey(run.executionId, `outcome:${key}`);
      if (stored?.type === "MODEL_CALL_COMPLETED") {
        outcome = { ok: true, result: (stored.data as { result?: unknown }).result };
      }
    }
    // Completed before: answered, never sent to the provider again (nor counted again).
    if (outcome?.ok) {
      known(outcome);
      return outcome.result as ModelCallResult;
    }
    // Earlier in this attempt, the call failed: the step run again sees the same failure.
    const failed = run.ledger.failedInAttempt(key);
    if (failed) {
      known({ ok: false, error: failed });
      throw fromErrorInfo(failed);
    }
    // Started by an earlier process without a completion: made again, and counted again.
    const rerun = run.ledger.resumed && !run.ledger.hasIntent(key) &&
      (await run.host.eventStore.findByKey(run.executionId, `intent:${key}`)) !== undefined;
    const price = run.host.models.price(id.id);
    const { maxCostUsd } = run.policy.limits;
    if (!price && Number.isFinite(maxCostUsd)) {
      // Counted at $0, it would pass any cost limit: refused, unsent. A
      // missing price stays missing: a retry of the step would be refused the same way.
      const keys = priceKeys(id.id).map((k) => `"${k}"`).join(", ");
      const refused = new ModelCallError({
        model: id.id,
        reason: "unpriced",
        detail: `it has no price, so maxCostUsd ($${maxCostUsd}) cannot bound its cost; ` +
          `give it one in the config file's "models.prices" (or models.prices of the options), ` +
          `under one of the keys looked up: ${keys}`,
      });
      this.#failed(key, { error: refused, info: run.errorInfo(refused), known });
      throw refused;
    }
    const violation = run.policy.checkModelCall(run.totals, run.elapsed(), {
      maxOutputTokens: request.maxOutputTokens,
      outputPerMTokUsd: price?.outputPerMTok,
    });
    if (violation) await run.violation(violation);
    // Without its own bound, a call may write what the budgets have left, and
    // no more: sent as its bound once that is under SAFE_OUTPUT_BOUND, which
    // every chat model takes (a larger bound may pass a model's own output
    // limit, which OpenAI refuses with a 400).
    const allowance = request.maxOutputTokens === undefined
      ? run.policy.outputAllowance(run.totals, { outputPerMTokUsd: price?.outputPerMTok })
      : undefined;
    const sent = allowance === undefined || allowance >= SAFE_OUTPUT_BOUND
      ? request
      : { ...request, maxOutputTokens: allowance };
    const about = { agent: run.agent.name, model: id.id, provider: id.provider, key };
    run.ledger.intent(key);
    const intent = await run.record("MODEL_CALL_STARTED", {
      ...about,
      occurrence: call.occurrence,
      maxOutputTokens: sent.maxOutputTokens ?? null,
      rerun,
      request,
    }, { step, key: `intent:${key}` });
    const span = this.#span(sent, id, call);
    const started = run.host.clock.now();
    const endWait = run.waits.begin(`model "${id.id}"`);
    const relay = call.stream ? this.#relay(id, key, intent.seq ?? 0) : undefined;
    // What a call the provider answered cost: counted once, whether the call then succeeds or fails.
    let spent: { usage: ModelUsage; costUsd: number } | undefined;
    const count = (usage: ModelUsage, costUsd: number) => {
      spent = { usage, costUsd };
      run.totals.tokens += usage.totalTokens;
      run.totals.costUsd = roundUsd((run.totals.costUsd ?? 0) + costUsd);
    };
    try {
      const result = await run.host.models.call(relay ? { ...sent, stream: true } : sent, {
        signal: run.signal,
        ...(relay ? { onDelta: (text: string) => relay.push(text) } : {}),
        onRetry: async (retry) => {
          span.addEvent("RETRY_ATTEMPTED", {
            "oao.attempt": retry.attempt,
            "oao.delay_ms": retry.delayMs,
            "oao.reason": retry.reason,
            ...(retry.status === undefined ? {} : { "http.response.status_code": retry.status }),
          });
          await run.record("RETRY_ATTEMPTED", {
            ...about,
            attempt: retry.attempt,
            delayMs: retry.delayMs,
            reason: retry.reason,
            ...(retry.status === undefined ? {} : { status: retry.status }),
            error: _redacted(run.errorInfo(retry.error)),
          }, { step });
        },
      });
      count(result.usage, result.costUsd);
      // Recorded and sent to the agent: it must be JSON, and bounded.
      assertJsonWithin(
        result,
        `The result of model call "${id.id}"`,
        run.host.limits.maxValueBytes,
      );
      // Watchers get every delta before the completion that ends them.
      await relay?.close();
      await run.record("MODEL_CALL_COMPLETED", {
        ...about,
        usage: result.usage,
        costUsd: result.costUsd,
        finishReason: result.finishReason,
        latencyMs: result.latencyMs,
        attempts: result.attempts,
        result,
      }, { step, key: `outcome:${key}` });
      run.ledger.record(key, { ok: true, result });
      known({ ok: true, result });
      const attributes: Attributes = {
        "gen_ai.response.model": result.responseModel ?? id.model,
        "gen_ai.usage.input_tokens": result.usage.inputTokens,
        "gen_ai.usage.output_tokens": result.usage.outputTokens,
        "gen_ai.usage.cache_read.input_tokens": result.usage.cachedInputTokens,
        "gen_ai.response.finish_reasons": [result.finishReason],
        "oao.model.cost_usd": result.costUsd,
        "oao.model.attempts": result.attempts,
      };
      for (const [name, value] of Object.entries(attributes)) span.setAttribute(name, value);
      span.setStatus("ok");
      return result;
    } catch (thrown) {
      if (thrown instanceof FencedError) {
        span.recordException(thrown);
        throw thrown;
      }
      if (!spent && thrown instanceof ModelCallError && thrown.usage) {
        count(thrown.usage, thrown.costUsd);
      }
      const error = _safeError(thrown);
      const info = _redacted(run.errorInfo(error));
      // A model layer this process may not load (a missing permission) fails
      // the execution, retryably: it is the environment's failure, not the agent's.
      const environment = error instanceof Deno.errors.NotCapable ||
        error instanceof Deno.errors.PermissionDenied;
      const detail = error as { reason?: unknown; status?: unknown; attempts?: unknown };
      span.setAttribute("error.type", String(detail.reason ?? info.code ?? info.name));
      span.recordException(error);
      await relay?.close();
      await run.record("MODEL_CALL_FAILED", {
        ...about,
        error: info,
        ...(typeof detail.reason === "string" ? { reason: detail.reason } : {}),
        ...(typeof detail.status === "number" ? { status: detail.status } : {}),
        ...(typeof detail.attempts === "number" ? { attempts: detail.attempts } : {}),
        latencyMs: run.host.clock.now() - started,
        ...(spent ?? {}),
        ...(environment ? { environment: true } : {}),
      }, { step, key: `outcome:${key}` });
      this.#failed(key, { error, info, known });
      if (environment) run.fail(error);
      throw error;
    } finally {
      endWait();
      span.end();
    }
  }

  // The outcome of a failed call, refused or made: in the ledger (final, for
  // the step's retries too, when FINAL_REASONS says a retry would only
  // repeat it) and to the calls that joined it.
  #failed(
    key: string,
    failure: { error: unknown; info: ErrorInfo; known: (outcome: Outcome) => void },
  ): void {
    const { error, info, known } = failure;
    const ledger = this.#run.ledger;
    ledger.record(key, { ok: false, error: info });
    if (error instanceof ModelCallError && FINAL_REASONS.has(error.reason)) ledger.markFinal(info);
    known({ ok: false, error: info });
  }

  // The relay of a streamed call's deltas: to this process's watchers and the side log.
  #relay(id: ModelId, key: string, start: number): TextDeltaRelay {
    const run = this.#run;
    const { models } = run.host;
    return new TextDeltaRelay(run.host.eventStore, run.host.clock, {
      call: { executionId: run.executionId, step: run.step, key, start, model: id.id },
      emit: (delta) => models.emitDelta(delta),
      maxChars: run.host.limits.maxValueBytes,
    });
  }

  // A `chat <model>` span, child of the step's, as the OpenTelemetry GenAI conventions name it.
  #span(
    request: GenerateTextRequest,
    id: ModelId,
    call: { hash: string; occurrence: number },
  ): Span {
    const run = this.#run;
    return run.host.tracer.startSpan(`chat ${id.model}`, {
      parent: run.stepSpan?.context,
      kind: "client",
      attributes: {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": id.provider,
        "gen_ai.request.model": id.model,
        ...(request.maxOutputTokens === undefined
          ? {}
          : { "gen_ai.request.max_tokens": request.maxOutputTokens }),
        ...(request.temperature === undefined
          ? {}
          : { "gen_ai.request.temperature": request.temperature }),
        "oao.execution.id": run.executionId,
        "oao.step": run.step,
        "oao.model.key_hash": call.hash,
        "oao.model.occurrence": call.occurrence,
      },
    });
  }
}

// The error with its message free of registered secrets (a provider's
// answer may quote the key it got; the model layer redacts its own errors,
// this covers whatever else was thrown).
function _safeError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const message = redactText(error.message);
  if (message === error.message) return error;
  const safe = new Error(message);
  safe.name = error.name;
  return safe;
}

function _redacted(info: ErrorInfo): ErrorInfo {
  const safe: ErrorInfo = { ...info, message: redactText(info.message) };
  if (info.stack !== undefined) safe.stack = redactText(info.stack);
  return safe;
}
