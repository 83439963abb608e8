/**
 * The actor pair behind the tell figures (`actor.tell.throughput`,
 * `tracing.overhead`): a source actor that tells a sink actor, in another
 * worker, `n` messages and answers with the count the sink confirms.
 *
 * @module
 */
import process from "node:process";
import type { ActorSystem } from "../src/actor/actor_system.ts";

const ACTORS = new URL("../actors/", import.meta.url);

/** A source and the path of its sink. */
export interface TellPair {
  /** The source actor. */
  source: { ask(message: unknown, options: { timeoutMs: number }): Promise<unknown> };
  /** The sink's path. */
  sink: string;
}

/**
 * Spawns the sink and the source (stateless, snapshot "never").
 *
 * @param system The system to spawn them in.
 * @returns The pair.
 */
export async function spawnTellPair(system: ActorSystem): Promise<TellPair> {
  const sink = await system.spawn(new URL("throughput_sink.ts", ACTORS), {
    name: "sink",
    snapshot: "never",
  });
  const source = await system.spawn(new URL("throughput_source.ts", ACTORS), {
    name: "source",
    snapshot: "never",
  });
  return { source, sink: sink.path };
}

/**
 * One round: the source tells the sink `n` messages.
 *
 * @param pair The pair.
 * @param n Messages.
 * @returns Messages per second, and the process CPU time per message (µs, every thread).
 * @throws {Error} When the sink counted a different number of messages.
 */
export async function tellRound(
  pair: TellPair,
  n: number,
): Promise<{ rate: number; cpuUs: number }> {
  const cpu = _cpuMicros();
  const started = performance.now();
  const got = await pair.source.ask({ type: "run", n, to: pair.sink }, { timeoutMs: 300_000 });
  const rate = n / ((performance.now() - started) / 1000);
  const cpuUs = (_cpuMicros() - cpu) / n;
  if (got !== n) throw new Error(`The sink counted ${got} messages, expected ${n}`);
  return { rate, cpuUs };
}

function _cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}
