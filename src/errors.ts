/**
 * Every named error of OAO, for the host side: the base and its code
 * registry (`oao_error.ts`) and the errors of each layer, which live beside
 * the layer that throws them — the actor runtime's (`actor/actor_errors.ts`,
 * the only ones an actor worker carries), the stores'
 * (`persistence/store_errors.ts`) and the orchestrator's
 * (`orchestrator/execution_errors.ts`).
 *
 * Bad arguments are reported with the built-in `TypeError` and `RangeError`;
 * everything here is a condition of the running system. Every error has a
 * stable `code` and an optional `cause`.
 *
 * @example Catching a timeout
 * ```ts
 * import { AskTimeoutError } from "./errors.ts";
 *
 * const error = new AskTimeoutError("planner", 250);
 * console.assert(error instanceof AskTimeoutError);
 * console.assert(error.code === "ASK_TIMEOUT");
 * ```
 *
 * @module
 */
export {
  type ErrorInfo,
  fromErrorInfo,
  OaoError,
  registerErrorClass,
  toErrorInfo,
} from "./oao_error.ts";
export {
  AccessDeniedError,
  ActorExistsError,
  ActorFailedError,
  ActorNotFoundError,
  ActorSpawnError,
  ActorStoppedError,
  AskTimeoutError,
  MailboxFullError,
  MessageNotCloneableError,
  ModuleRefusedError,
  ProtocolViolationError,
  SupervisorEscalationError,
  ValueTooLargeError,
} from "./actor/actor_errors.ts";
export {
  CorruptDataError,
  FencedError,
  LeaseLostError,
  StaleVersionError,
  StoreUnavailableError,
} from "./persistence/store_errors.ts";
export {
  ExecutionBusyError,
  ExecutionCancelledError,
  ExecutionFinishedError,
  ExecutionHashMismatchError,
  ExecutionNotFoundError,
  PolicyViolationError,
  ToolOutcomeUnknownError,
  TooManySignalsError,
  UnknownAgentError,
} from "./orchestrator/execution_errors.ts";
