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
// - No signals to its own process, its parent or a process group: Deno
//   checks no permission to signal the process itself, so
//   `process.kill(process.pid, "SIGKILL")` ended the orchestrator. `Deno.kill`
//   and `process.kill` refuse pids <= 0, its own and its parent's (the named
//   `kill` export of `node:process` is the same function: the bundle's
//   `node:process` is the global `process`, see src/actor/_builtin_shims.ts).
//   No signal listeners either: an agent could keep the process from ending on SIGTERM.
// - No storage without a permission: the Web Cache API (`caches`) and
//   `Deno.openKv()` without a path write to the user's Deno directory, shared
//   by every program of the user and read back by other agents.
// - No host binary or host memory without a permission: Deno checks none
//   for `Deno.execPath()` (the orchestrator's binary) or `Deno.memoryUsage()`
//   (the process's memory, which moves with what other executions do; so do
//   `process.resourceUsage()` and `process.cpuUsage()`). The
//   binary is named `deno` unless the worker may read it (so
//   `process.execPath` and `process.argv[0]` too: Deno's node compatibility
//   reads it as it starts, on the first `node:` module that needs `process`);
//   the memory is refused unless the worker may read the system's (`sys`).
//   The working directory stays readable: `process.cwd()` is what
//   `path.resolve` and many packages read as they load.
// - Its stdio is confined (`_guest_stdio.ts`): no forged log lines.
// - No thread that cannot be ended: `Atomics.wait` throws. A worker blocked
//   in it is not stopped by `terminate()`, so an actor that blocked in it and
//   was then stopped kept its thread and memory (~10 MB each) and kept the
//   process from exiting. `Atomics.waitAsync` waits without blocking.
import type { WorkerToHost } from "../actor/_protocol.ts";
import { confineStdio } from "./_guest_stdio.ts";

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

  const confineProcessStdio = confineStdio(scope, lock);
  const notCapable = (message: string) => new Deno.errors.NotCapable(message);
  const guardKill = (what: string, kill: (pid: number, signal?: Deno.Signal) => void) =>
    function guardedKill(pid: number, signal?: Deno.Signal): void {
      if (!(pid > 0) || pid === Deno.pid || pid === Deno.ppid) {
        throw notCapable(
          `${what} refused: an actor may not signal its own process, its parent or a process group (pid ${pid})`,
        );
      }
      kill(pid, signal);
    };
  const kill = original<typeof Deno.kill>(Deno, "kill");
  lock(Deno, "kill", guardKill("Deno.kill()", (pid, signal) => kill()?.call(Deno, pid, signal)));
  const mayRead = (path: string) =>
    Deno.permissions.querySync({ name: "read", path }).state === "granted";
  const execPath = original<() => string>(Deno, "execPath");
  lock(Deno, "execPath", () => {
    const path = execPath()!.call(Deno);
    // Named, not located: a string still, for what reads it as it starts.
    return mayRead(path) ? path : "deno";
  });
  // The process's memory and CPU move with what other executions do.
  const processFigures = (what: string, read: () => unknown) => () => {
    if (Deno.permissions.querySync({ name: "sys", kind: "systemMemoryInfo" }).state !== "granted") {
      throw notCapable(
        `${what} refused: the process's figures tell what other executions do (it needs the sys permission)`,
      );
    }
    return read();
  };
  const memoryUsage = original<typeof Deno.memoryUsage>(Deno, "memoryUsage");
  lock(Deno, "memoryUsage", processFigures("Deno.memoryUsage()", () => memoryUsage()!.call(Deno)));
  const listeners = () => {
    throw notCapable("An actor may not listen to the process's signals");
  };
  lock(Deno, "addSignalListener", listeners);
  lock(Deno, "removeSignalListener", listeners);
  // `process` is made on first use (Deno loads its node compatibility then,
  // which costs a worker 15–20 ms): it is guarded then, not before.
  const guardProcess = (process: NodeLikeProcess) => {
    lock(process, "kill", guardKill("process.kill()", process.kill.bind(process)));
    for (const method of ["on", "addListener", "once", "prependListener", "prependOnceListener"]) {
      const original = process[method];
      if (typeof original !== "function") continue;
      lock(process, method, function (this: unknown, event: unknown, ...rest: unknown[]) {
        if (typeof event === "string" && /^SIG[A-Z0-9]+$/.test(event)) listeners();
        return original.call(this, event, ...rest);
      });
    }
    confineProcessStdio(process);
    for (const method of ["resourceUsage", "cpuUsage"]) {
      const read = process[method];
      if (typeof read !== "function") continue;
      lock(process, method, processFigures(`process.${method}()`, () => read.call(process)));
    }
    return process;
  };
  const processDescriptor = Object.getOwnPropertyDescriptor(scope, "process");
  if (processDescriptor?.get) {
    const make = processDescriptor.get;
    let guarded: NodeLikeProcess | undefined;
    Object.defineProperty(scope, "process", {
      get: () => guarded ??= guardProcess(make.call(scope) as NodeLikeProcess),
      enumerable: processDescriptor.enumerable ?? false,
      configurable: false,
    });
  } else if (processDescriptor?.value) {
    guardProcess(processDescriptor.value as NodeLikeProcess);
  }
  delete (scope as { caches?: unknown }).caches;
  if (Object.hasOwn(Deno, "openKv")) {
    const openKv = original<(path?: string) => Promise<unknown>>(Deno, "openKv");
    lock(Deno, "openKv", (path?: string) => {
      if (path === undefined || path === "") {
        throw notCapable(
          'Deno.openKv() without a path is refused inside an actor: its default store is shared by every program of the user (pass a path the actor may read and write, or ":memory:")',
        );
      }
      return openKv()!.call(Deno, path);
    });
  }

  lock(Atomics, "wait", function wait(): never {
    throw new TypeError(
      "Atomics.wait is disabled inside an actor: a thread blocked in it cannot be ended (use Atomics.waitAsync)",
    );
  });

  const internal = (Deno as unknown as { internal?: symbol }).internal;
  if (typeof internal === "symbol") delete (Deno as unknown as Record<symbol, unknown>)[internal];
  delete (scope as { Worker?: unknown }).Worker;
}

type NodeLikeProcess = Record<string, unknown> & {
  kill(pid: number, signal?: Deno.Signal): void;
};

/**
 * The value of `target[key]` as it is now, read when first asked for: Deno
 * makes some of its namespace on first read (`Deno.kill` loads its process
 * APIs, `Deno.openKv` its KV: 1–4 ms each), which a worker that never uses
 * them should not pay for at start.
 */
function original<T>(target: object, key: string): () => T | undefined {
  const descriptor = Object.getOwnPropertyDescriptor(target, key);
  const get = descriptor?.get;
  if (!get) return () => descriptor?.value as T | undefined;
  let value: T | undefined;
  let read = false;
  return () => {
    // No destructuring: it would run the actor's Array.prototype[Symbol.iterator].
    if (!read) {
      value = get.call(target) as T;
      read = true;
    }
    return value;
  };
}

function lock(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    writable: false,
    enumerable: false,
    configurable: false,
  });
}
