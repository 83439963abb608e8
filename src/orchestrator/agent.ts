/**
 * Agents: modules that run inside their own actor worker and follow OAO's
 * lifecycle (INIT → PLAN → EXECUTE → REVIEW → TERMINATE). The orchestrator
 * sends one message per step; the agent's hook for that state runs with a
 * context that holds the task, the agent's persisted state, tool calls,
 * model calls (`ctx.generateText`, made by the host: the worker needs no
 * network permission and never sees a key), token accounting, a logger, and
 * messaging to other agents.
 *
 * @example An agent module
 * ```ts
 * import { defineAgent } from "./agent.ts";
 *
 * export default defineAgent({
 *   name: "summarizer",
 *   version: "1.0.0",
 *   initialState: () => ({ notes: [] as string[] }),
 *   async execute(ctx) {
 *     const page = await ctx.tool<string>("fetch", { url: (ctx.task as { url: string }).url });
 *     ctx.recordTokens(page.length);
 *     ctx.state.notes.push(page.slice(0, 100));
 *   },
 *   review: (ctx) => ({ done: ctx.state.notes.length > 0, output: ctx.state.notes }),
 * });
 * ```
 *
 * @module
 */
import type { ActorBehavior } from "../actor/behavior.ts";
import type { ActorContext, ActorLogger, AskOptions } from "../actor/actor_context.ts";
import { HOST_SENDER } from "../actor/envelope.ts";
import { AccessDeniedError, type ErrorInfo, toErrorInfo } from "../errors.ts";
import type { ModelCallRequest, ModelCallResult } from "../model/model_call.ts";
import type { LifecycleState } from "./lifecycle.ts";

/**
 * A model call as an agent asks for it: the options of the AI SDK's
 * `generateText` that are plain JSON — `model` (`"openai:gpt-4o-mini"`),
 * `system`, `prompt` or `messages`, `tools` the model may ask for (with a
 * JSON Schema input), `toolChoice`, `output` (a JSON Schema for a structured
 * answer), `maxOutputTokens` and `temperature`. Messages hold text, tool calls
 * and tool results; images and files are not accepted (yet).
 */
export type GenerateTextRequest = Omit<ModelCallRequest, "stream">;

/**
 * The answer to {@linkcode AgentContext.generateText}: text, the tools the
 * model asked for (not run: call them with `ctx.tool`), the structured
 * `object`, usage (input, output, cached tokens), cost in USD, finish reason,
 * latency and attempts. Plain JSON, as recorded in the execution's log.
 */
export type GenerateTextResult = ModelCallResult;

/** What an agent's hook can use during one step. */
export interface AgentContext<S = unknown, T = unknown> {
  /** The execution. */
  readonly executionId: string;
  /** The agent's registered name. */
  readonly agent: string;
  /** Step number (1 for INIT). */
  readonly step: number;
  /** Lifecycle state of the step. */
  readonly phase: LifecycleState;
  /** PLAN → EXECUTE → REVIEW loops completed so far (0 during the first). */
  readonly iteration: number;
  /** Attempt of this step: 1, then 2, 3, … when the retry policy runs it again. */
  readonly attempt: number;
  /** True when this step is delivered again because the agent's worker was restarted mid-step. */
  readonly redelivered: boolean;
  /** The task the execution was started with (in a workflow: the task's `input`). */
  readonly task: T;
  /**
   * In a workflow, the outputs of the tasks this one depends on, by task
   * name (`{ fetch: <output of "fetch"> }`); `{}` outside workflows and for
   * tasks without dependencies.
   */
  readonly dependencies: Readonly<Record<string, unknown>>;
  /** The agent's state: persisted after every step. Mutate it or return a new one. */
  state: S;
  /** Structured logger; records carry the execution id and the agent. */
  readonly log: ActorLogger;
  /**
   * Calls a tool through the orchestrator (governed, audited, idempotent).
   *
   * @throws {PolicyViolationError} When the call would exceed the policy.
   */
  tool<R = unknown>(name: string, args?: unknown): Promise<R>;
  /**
   * Calls a model through the orchestrator, like the AI SDK's `generateText`:
   * a governed, journaled step. The host makes the call (with its keys, its
   * retries and rate limits), counts its usage and cost against the policy
   * (`maxTokens`, `maxCostUsd`) and records it; a completed call is answered
   * from the log when the step runs again (resume, activation), never made
   * twice. The tools the model asks for are returned, not run.
   *
   * @throws {PolicyViolationError} When the call could exceed the token or cost budget by its
   *   `maxOutputTokens` (refused before it is made).
   * @throws {ModelCallError} When the provider refuses or fails for good (code `MODEL_CALL_FAILED`).
   * @throws {TypeError | RangeError} When the request is malformed, naming the field.
   */
  generateText(request: GenerateTextRequest): Promise<GenerateTextResult>;
  /**
   * Like {@linkcode AgentContext.generateText}, with the answer streamed:
   * while the model writes, its text deltas reach whoever watches the
   * execution live (`GET /executions/:id/stream` as `model_delta` messages,
   * `oao run`, `Orchestrator.watchTextDeltas`). The agent gets the completed
   * answer, and the log records it once, as for `generateText`: the deltas
   * are not each journaled. A streamed and a plain call of the same request
   * are the same call for the journal (answered from the log alike).
   *
   * @throws {PolicyViolationError | ModelCallError | TypeError | RangeError} As `generateText`.
   */
  streamText(request: GenerateTextRequest): Promise<GenerateTextResult>;
  /**
   * Waits for the next signal of this name (sent with `POST
   * /executions/:id/signals/:name`, `oao signal` or `Orchestrator.signal`)
   * and returns its JSON payload. Durable: a signal sent before the wait, or
   * while no process runs the execution, is taken when the wait comes; each
   * signal is taken once, in order per name. While it waits the execution
   * holds no worker.
   *
   * @throws {OaoError} Code `SIGNAL_TIMEOUT` when `timeoutMs` passes first
   *   (the deadline counts from the first time the wait was reached, across resumes).
   */
  waitForSignal<P = unknown>(name: string, options?: { timeoutMs?: number }): Promise<P>;
  /**
   * Sleeps durably: the due time is recorded, so a resume after a crash
   * wakes the execution when it was due, not `ms` after the resume. Holds
   * no worker while it sleeps.
   */
  sleep(ms: number): Promise<void>;
  /** Like {@linkcode AgentContext.sleep}, until an epoch-ms time or a `Date`. */
  sleepUntil(time: number | Date): Promise<void>;
  /** Records tokens spent (counted against the policy). */
  recordTokens(tokens: number): void;
  /** Asks another actor or agent of this execution (by path) and waits for the reply. */
  ask<R = unknown>(target: string, message: unknown, options?: AskOptions): Promise<R>;
  /** Tells another actor or agent (by path), fire and forget. */
  tell(target: string, message: unknown): void;
  /** Path of a peer agent of this execution, for `ask`/`tell`. */
  peer(agent: string): string;
}

/** What REVIEW returns: done (go to TERMINATE) or not (back to PLAN). */
export type ReviewResult = boolean | { done: boolean; output?: unknown };

/** Hooks that may return a new state (or nothing, keeping `ctx.state`). */
export type StepHook<S, T> = (ctx: AgentContext<S, T>) => S | void | Promise<S | void>;

/** An agent. Every hook is optional. */
export interface AgentDefinition<S = unknown, T = unknown> {
  /** Default registration name. */
  name?: string;
  /** Version, part of the execution hash. @default {"0.0.0"} */
  version?: string;
  /** The state of a fresh execution. @default {{}} */
  initialState?: (task: T) => S;
  /** INIT step. */
  init?: StepHook<S, T>;
  /** PLAN step. */
  plan?: StepHook<S, T>;
  /** EXECUTE step. */
  execute?: StepHook<S, T>;
  /** REVIEW step: `true`/`{ done: true }` finishes, `false` loops back to PLAN. @default {done} */
  review?: (ctx: AgentContext<S, T>) => ReviewResult | void | Promise<ReviewResult | void>;
  /** TERMINATE step: returns the execution's output. @default {the REVIEW output, else the state} */
  terminate?: (ctx: AgentContext<S, T>) => unknown | Promise<unknown>;
  /** Answers messages from other agents and actors (peer messaging). */
  onMessage?: (message: unknown, ctx: PeerContext) => unknown | Promise<unknown>;
}

/** What `onMessage` can use. */
export interface PeerContext {
  /** The agent's actor path. */
  readonly self: string;
  /** The sender's path. */
  readonly from: string;
  /** Structured logger. */
  readonly log: ActorLogger;
  /** Asks another actor. */
  ask<R = unknown>(target: string, message: unknown, options?: AskOptions): Promise<R>;
  /** Tells another actor. */
  tell(target: string, message: unknown): void;
}

/** The step message the orchestrator sends. */
export interface StepMessage {
  type: "oao.step";
  executionId: string;
  agent: string;
  step: number;
  phase: LifecycleState;
  iteration: number;
  attempt: number;
  task: unknown;
  /** Outputs of the workflow tasks this execution depends on (absent outside workflows). */
  dependencies?: Record<string, unknown>;
  state: unknown;
  peers: Record<string, string>;
}

/** The agent's answer to a step. */
export type StepResult =
  | {
    ok: true;
    state: unknown;
    tokens: number;
    done?: boolean;
    output?: unknown;
    hasOutput: boolean;
  }
  | { ok: false; error: ErrorInfo; tokens: number };

/** A behaviour that is also an agent: spawnable as an actor, run by the orchestrator. */
export type AgentModule<S, T> = ActorBehavior<null, StepMessage | unknown> & {
  readonly agent: AgentDefinition<S, T>;
};

/** Service name of tool calls on the actor system. */
export const TOOL_SERVICE = "oao.tool";

/** A tool call from an agent to the orchestrator. */
export interface ToolCallRequest {
  executionId: string;
  step: number;
  /** Which run of the step: `<attempt>:<worker incarnation>`. */
  run: string;
  name: string;
  args: unknown;
  tokens: number;
}

/** Service name of durable waits (signals, timers) on the actor system. */
export const WAIT_SERVICE = "oao.wait";

/** A durable wait from an agent to the orchestrator. */
export interface WaitServiceRequest {
  executionId: string;
  step: number;
  /** Which run of the step: `<attempt>:<worker incarnation>`. */
  run: string;
  /** What is awaited: a signal by name, or a timer (`ms` from now, or `until` an epoch-ms time). */
  wait:
    | { kind: "signal"; name: string; timeoutMs?: number }
    | { kind: "timer"; ms?: number; until?: number };
}

/** Service name of model calls on the actor system. */
export const MODEL_SERVICE = "oao.model";

/** A model call from an agent to the orchestrator. */
export interface ModelServiceRequest {
  executionId: string;
  step: number;
  /** Which run of the step: `<attempt>:<worker incarnation>`. */
  run: string;
  /** The call, as the agent asked for it. */
  request: GenerateTextRequest;
  /** Stream the answer's text to the execution's watchers (`ctx.streamText`). */
  stream?: boolean;
  /** Tokens recorded by the agent since its last call. */
  tokens: number;
}

/**
 * Defines an agent. The result is an actor behaviour (so the module can be
 * spawned into its own worker) that runs the agent's hooks on step messages.
 * Only the host (the orchestrator) may send step messages: one from another
 * actor is never run; it is answered with a failed step result whose error
 * is an `AccessDeniedError` naming the sender, and logged.
 *
 * @param agent The hooks and metadata.
 * @returns The agent module's default export.
 * @throws {TypeError} When a hook is not a function.
 *
 * @example
 * ```ts
 * import { defineAgent } from "./agent.ts";
 * const agent = defineAgent({ review: () => true });
 * console.assert(typeof agent.receive === "function" && agent.agent.review !== undefined);
 * ```
 */
export function defineAgent<S = Record<string, unknown>, T = unknown>(
  agent: AgentDefinition<S, T>,
): AgentModule<S, T> {
  for (
    const hook of [
      "initialState",
      "init",
      "plan",
      "execute",
      "review",
      "terminate",
      "onMessage",
    ] as const
  ) {
    if (agent[hook] !== undefined && typeof agent[hook] !== "function") {
      throw new TypeError(
        `Invalid agent hook "${hook}": expected a function, got ${typeof agent[hook]}`,
      );
    }
  }
  return {
    agent,
    initialState: null,
    async receive(state: null, message: unknown, actor: ActorContext) {
      if (isStepMessage(message)) {
        const from = actor.message.from;
        if (from !== HOST_SENDER) {
          const error = new AccessDeniedError(
            from,
            `send a step message to "${actor.self}"`,
            `only the host ("${HOST_SENDER}") sends step messages`,
          );
          actor.log.warn("Refused a step message from {from}: only the host sends step messages", {
            from,
          });
          actor.reply({ ok: false, error: toErrorInfo(error), tokens: 0 } satisfies StepResult);
        } else actor.reply(await runStep(agent, message, actor));
      } else if (agent.onMessage) {
        actor.reply(await agent.onMessage(message, peerContext(actor)));
      } else {
        throw new TypeError(
          `Agent "${actor.self}" has no onMessage hook for message ${JSON.stringify(message)}`,
        );
      }
      return state;
    },
  };
}

function waitRequest(
  message: StepMessage,
  actor: ActorContext,
  wait: WaitServiceRequest["wait"],
): WaitServiceRequest {
  return {
    executionId: message.executionId,
    step: message.step,
    run: `${message.attempt}:${actor.incarnation}`,
    wait,
  };
}

function isStepMessage(message: unknown): message is StepMessage {
  return typeof message === "object" && message !== null &&
    (message as { type?: unknown }).type === "oao.step";
}

async function runStep<S, T>(
  agent: AgentDefinition<S, T>,
  message: StepMessage,
  actor: ActorContext,
): Promise<StepResult> {
  let tokens = 0;
  const model = async (request: GenerateTextRequest, stream: boolean) => {
    const call: ModelServiceRequest = {
      executionId: message.executionId,
      step: message.step,
      run: `${message.attempt}:${actor.incarnation}`,
      request,
      tokens,
    };
    if (stream) call.stream = true;
    tokens = 0;
    return await actor.call<GenerateTextResult>(MODEL_SERVICE, call);
  };
  const ctx: AgentContext<S, T> = {
    executionId: message.executionId,
    agent: message.agent,
    step: message.step,
    phase: message.phase,
    iteration: message.iteration,
    attempt: message.attempt,
    redelivered: actor.message.redelivered,
    task: message.task as T,
    dependencies: Object.freeze({ ...message.dependencies }),
    state:
      (message.phase === "INIT" && message.state === undefined
        ? (agent.initialState ? agent.initialState(message.task as T) : {})
        : message.state) as S,
    log: actor.log,
    async tool<R>(name: string, args?: unknown): Promise<R> {
      const request: ToolCallRequest = {
        executionId: message.executionId,
        step: message.step,
        run: `${message.attempt}:${actor.incarnation}`,
        name,
        args,
        tokens,
      };
      tokens = 0;
      return await actor.call<R>(TOOL_SERVICE, request);
    },
    async generateText(request: GenerateTextRequest): Promise<GenerateTextResult> {
      return await model(request, false);
    },
    async streamText(request: GenerateTextRequest): Promise<GenerateTextResult> {
      return await model(request, true);
    },
    async waitForSignal<P>(name: string, options: { timeoutMs?: number } = {}): Promise<P> {
      const wait: WaitServiceRequest["wait"] = { kind: "signal", name };
      if (options.timeoutMs !== undefined) wait.timeoutMs = options.timeoutMs;
      return await actor.call<P>(WAIT_SERVICE, waitRequest(message, actor, wait));
    },
    async sleep(ms: number): Promise<void> {
      await actor.call(WAIT_SERVICE, waitRequest(message, actor, { kind: "timer", ms }));
    },
    async sleepUntil(time: number | Date): Promise<void> {
      const until = time instanceof Date ? time.getTime() : time;
      if (typeof until !== "number" || !Number.isFinite(until)) {
        throw new TypeError(
          `Invalid sleepUntil time ${
            time instanceof Date ? "(an invalid Date)" : String(time)
          }: expected epoch ms or a valid Date`,
        );
      }
      await actor.call(WAIT_SERVICE, waitRequest(message, actor, { kind: "timer", until }));
    },
    recordTokens(n: number) {
      if (!Number.isFinite(n) || n < 0) {
        throw new RangeError(`Invalid token count ${JSON.stringify(n)}: expected a number >= 0`);
      }
      tokens += n;
    },
    ask: (target, msg, options) => actor.ask(target, msg, options),
    tell: (target, msg) => actor.tell(target, msg),
    peer(name: string) {
      const path = message.peers[name];
      if (!path) {
        throw new TypeError(
          `No peer agent "${name}" in execution "${message.executionId}" (peers: ${
            Object.keys(message.peers).join(", ") || "none"
          })`,
        );
      }
      return path;
    },
  };
  try {
    let done: boolean | undefined;
    let output: unknown;
    let hasOutput = false;
    switch (message.phase) {
      case "INIT":
      case "PLAN":
      case "EXECUTE": {
        const hook = message.phase === "INIT"
          ? agent.init
          : message.phase === "PLAN"
          ? agent.plan
          : agent.execute;
        const next = hook ? await hook(ctx) : undefined;
        if (next !== undefined) ctx.state = next as S;
        break;
      }
      case "REVIEW": {
        const result = agent.review ? await agent.review(ctx) : undefined;
        if (typeof result === "boolean") done = result;
        else if (result && typeof result === "object") {
          done = result.done !== false;
          if ("output" in result) {
            output = result.output;
            hasOutput = true;
          }
        } else done = true;
        break;
      }
      case "TERMINATE":
        if (agent.terminate) {
          output = await agent.terminate(ctx);
          hasOutput = true;
        }
        break;
      default:
        throw new RangeError(`Invalid step phase "${message.phase}"`);
    }
    const result: StepResult = { ok: true, state: ctx.state, tokens, hasOutput };
    if (done !== undefined) result.done = done;
    if (hasOutput) result.output = output;
    return result;
  } catch (error) {
    return { ok: false, error: toErrorInfo(error), tokens };
  }
}

function peerContext(actor: ActorContext): PeerContext {
  return {
    self: actor.self,
    from: actor.message.from,
    log: actor.log,
    ask: (target, message, options) => actor.ask(target, message, options),
    tell: (target, message) => actor.tell(target, message),
  };
}
