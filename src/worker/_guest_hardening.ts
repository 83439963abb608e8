// Narrows the global scope of an actor worker before the actor's module
// evaluates (the bootstrap runs it between the runtime and the actor's
// verified bundle). Internal.
//
// - No code from strings: `eval`, `Function` and the constructors reachable
//   from function prototypes (async, generator, async generator) throw, as
//   generated code could contain an unverified `import()`; `instanceof
//   Function` and `fn.constructor === Function` still hold. Deno already
//   refuses `setTimeout("code")`.
// - No way round that through Deno's internals: `Deno[Deno.internal]`
//   (which exposes `core.evalContext`) is removed.
// - No nested workers: `Worker` is removed (a worker would load modules
//   that were never verified).
// - No silent exits: `Deno.exit` (which `node:process`'s `exit` calls) and
//   `self.close` tell the host that the actor tried to end its worker
//   (reason "worker_exited") and throw.
import type { WorkerToHost } from "../actor/_protocol.ts";

interface GuestScope {
  postMessage(message: WorkerToHost): void;
}

/**
 * Hardens this worker's global scope for the actor's code. Call once, before
 * the actor's module evaluates.
 *
 * @param scope The worker's global object.
 *
 * @example
 * ```ts ignore
 * import { hardenGuest } from "./_guest_hardening.ts";
 * hardenGuest(); // inside an actor worker only: it disables eval and Function
 * ```
 */
export function hardenGuest(scope: typeof globalThis = globalThis): void {
  const post = (scope as unknown as GuestScope).postMessage.bind(scope);
  const exiting = (what: string) =>
    function exit(): never {
      const message = `The actor called ${what}: an actor may not end its worker`;
      try {
        post({ k: "failed", reason: "worker_exited", error: { name: "Error", message } });
      } catch {
        // The host is gone already: nothing to tell.
      }
      throw new Error(message);
    };
  lock(Deno, "exit", exiting("Deno.exit()"));
  lock(scope, "close", exiting("self.close()"));

  const refuse = (what: string) =>
    function refused(): never {
      throw new EvalError(
        `${what} is disabled inside an actor: code made from strings could import modules that were not verified`,
      );
    };
  const intrinsic = [
    Function,
    Object.getPrototypeOf(async function () {}).constructor,
    Object.getPrototypeOf(function* () {}).constructor,
    Object.getPrototypeOf(async function* () {}).constructor,
  ] as FunctionConstructor[];
  for (const constructor of intrinsic) {
    const replacement = refuse(constructor.name);
    Object.defineProperty(replacement, "prototype", { value: constructor.prototype });
    Object.defineProperty(replacement, "name", { value: constructor.name });
    lock(constructor.prototype, "constructor", replacement);
    if (constructor === Function) lock(scope, "Function", replacement);
  }
  lock(scope, "eval", refuse("eval"));

  const internal = (Deno as unknown as { internal?: symbol }).internal;
  if (typeof internal === "symbol") delete (Deno as unknown as Record<symbol, unknown>)[internal];
  delete (scope as { Worker?: unknown }).Worker;
}

function lock(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    writable: false,
    enumerable: false,
    configurable: false,
  });
}
