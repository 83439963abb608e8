// Shared helpers of the actor tests.
import { ActorSystem, type ActorSystemOptions } from "../../src/actor/actor_system.ts";
import type { OaoEvent } from "../../src/observability/events.ts";

/** URL of a bundled actor module. */
export function actor(name: string): URL {
  return new URL(`../../actors/${name}.ts`, import.meta.url);
}

/** URL of a test fixture module. */
export function fixture(name: string): URL {
  return new URL(`../fixtures/${name}.ts`, import.meta.url);
}

/** An actor system that records every event; shut it down with `using`. */
export function testSystem(options: ActorSystemOptions = {}): ActorSystem & {
  recorded: OaoEvent[];
  [Symbol.asyncDispose](): Promise<void>;
} {
  const system = new ActorSystem(options) as ActorSystem & {
    recorded: OaoEvent[];
    [Symbol.asyncDispose](): Promise<void>;
  };
  system.recorded = [];
  system.events.subscribe((event) => system.recorded.push(event));
  system[Symbol.asyncDispose] = () => system.shutdown();
  return system;
}

/** Polls `check` until it returns a value other than `undefined`, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => T | undefined | Promise<T | undefined>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
