// One sandbox process seen from the orchestrator: started on first use,
// requests and their results, host-service calls, and its end. Internal.
import { ActorFailedError } from "../actor/actor_errors.ts";
import { type ErrorInfo, fromErrorInfo, toErrorInfo } from "../oao_error.ts";
import type { NormalizedPermissions } from "../actor/permissions.ts";
import { childEnv, childFlags } from "./_child_flags.ts";
import { LineWriter, readLines } from "./_wire.ts";
import type { HostToSandbox, SandboxHello, SandboxToHost } from "./_sandbox_protocol.ts";

const ENTRY = new URL("./sandbox_child.ts", import.meta.url);
const CONFIG = new URL("../../deno.json", import.meta.url);

type Request = HostToSandbox extends infer M ? M extends { id: number } ? Omit<M, "id"> : never
  : never;

interface Pending {
  resolve(value: { value: unknown; status?: string }): void;
  reject(error: Error): void;
}

/** What a sandbox process hands to its owner. */
export interface SandboxProcessHooks {
  onMessage(message: SandboxToHost, process: SandboxProcess): void;
  /** The process ended (crashed, killed, or closed): `reason` says how. */
  onExit(process: SandboxProcess, reason: string): void;
}

/** Options of a sandbox process. */
export interface SandboxProcessOptions {
  permissions: NormalizedPermissions;
  memoryMb: number;
  startTimeoutMs: number;
  hello: Omit<SandboxHello, "port" | "token">;
}

export class SandboxProcess {
  readonly #options: SandboxProcessOptions;
  readonly #hooks: SandboxProcessHooks;
  #child: Deno.ChildProcess | undefined;
  #out: LineWriter | undefined;
  #ready: Promise<void> | undefined;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #ended: string | undefined;

  constructor(options: SandboxProcessOptions, hooks: SandboxProcessHooks) {
    this.#options = options;
    this.#hooks = hooks;
  }

  /** The process id, once started. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Whether the process has ended. */
  get ended(): boolean {
    return this.#ended !== undefined;
  }

  /** Sends a request and waits for its result. */
  async request(message: Request): Promise<{ value: unknown; status?: string }> {
    await this.#start();
    if (this.#ended) throw this.#endError();
    const id = this.#nextId++;
    return await new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#out!.send({ ...message, id } as HostToSandbox);
    });
  }

  /** Sends a message that has no result. */
  post(message: HostToSandbox): void {
    this.#out?.send(message);
  }

  /** Ends the process at once (SIGKILL). */
  kill(reason: string): void {
    if (this.#ended) return;
    try {
      this.#child?.kill("SIGKILL");
    } catch {
      // already gone
    }
    this.#end(reason);
  }

  /** Asks the process to stop, and kills it if it has not within `graceMs`. */
  async close(graceMs = 2_000): Promise<void> {
    if (this.#ended || !this.#child) return this.#end("closed");
    this.#out?.send({ k: "shutdown" });
    const child = this.#child;
    const timer = setTimeout(() => this.kill("did not stop in time"), graceMs);
    await child.status.catch(() => {});
    clearTimeout(timer);
    this.#end("closed");
  }

  #start(): Promise<void> {
    this.#ready ??= this.#spawn();
    return this.#ready;
  }

  async #spawn(): Promise<void> {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    const token = crypto.randomUUID();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        ...childFlags(this.#options.permissions, {
          port,
          memoryMb: this.#options.memoryMb,
          config: CONFIG.pathname,
        }),
        ENTRY.pathname,
      ],
      cwd: Deno.cwd(),
      clearEnv: true,
      env: childEnv(this.#options.permissions),
      stdin: "piped",
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    this.#child = child;
    void child.status.then((status) => {
      const how = status.signal
        ? `was killed by ${status.signal}`
        : `exited with code ${status.code}`;
      this.#end(`the sandbox process ${how}`);
    });
    const stdin = child.stdin.getWriter();
    const hello: SandboxHello = { ...this.#options.hello, port, token };
    await stdin.write(new TextEncoder().encode(`${JSON.stringify(hello)}\n`));
    await stdin.close().catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const conn = await Promise.race([
        this.#accept(listener, token),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`it did not connect within ${this.#options.startTimeoutMs} ms`)),
            this.#options.startTimeoutMs,
          );
        }),
      ]);
      this.#out = new LineWriter(conn.writable);
    } catch (error) {
      this.kill(`it failed to start: ${toErrorInfo(error).message}`);
      throw this.#endError();
    } finally {
      clearTimeout(timer);
      try {
        listener.close();
      } catch {
        // closed by the accept loop already
      }
    }
  }

  // The first connection that proves itself with the token; others are closed.
  async #accept(listener: Deno.Listener, token: string): Promise<Deno.Conn> {
    for await (const conn of listener) {
      (conn as Deno.TcpConn).setNoDelay(true); // small request lines: no Nagle delay
      const proven = Promise.withResolvers<boolean>();
      let ok = false;
      readLines(conn.readable, (message) => {
        if (!ok) {
          const hello = message as { k?: unknown; token?: unknown } | null;
          if (hello?.k !== "hello" || hello.token !== token) throw new Error("bad hello");
          ok = true;
          return proven.resolve(true);
        }
        this.#receive(message);
      }).then(
        () => {
          proven.resolve(false);
          if (ok) this.kill("its connection closed");
        },
        (error) => {
          proven.resolve(false);
          if (ok) this.kill(`it broke the protocol: ${toErrorInfo(error).message}`);
          else {
            try {
              conn.close();
            } catch {
              // closed already
            }
          }
        },
      );
      if (await proven.promise) return conn;
    }
    throw new Error("its listener closed");
  }

  #receive(message: unknown): void {
    if (typeof message !== "object" || message === null) {
      return this.kill("it sent a message that is not an object");
    }
    const m = message as SandboxToHost;
    if (m.k === "result") {
      const pending = this.#pending.get(m.id);
      if (!pending) return;
      this.#pending.delete(m.id);
      if (m.ok) {
        pending.resolve(m.status ? { value: m.value, status: m.status } : { value: m.value });
      } else {
        const error = fromErrorInfo(m.error as ErrorInfo);
        if (m.status) (error as Error & { status?: string }).status = m.status;
        pending.reject(error);
      }
      return;
    }
    this.#hooks.onMessage(m, this);
  }

  #endError(): Error {
    return new ActorFailedError("$sandbox", `the sandbox process ended: ${this.#ended}`);
  }

  #end(reason: string): void {
    if (this.#ended) return;
    this.#ended = reason;
    const error = this.#endError();
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
    void this.#out?.close();
    this.#hooks.onExit(this, reason);
  }
}
