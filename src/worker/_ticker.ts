// Time inside an actor worker without platform timers: periodic work waits
// on a quiet shared word (the first timer of a fresh worker costs
// milliseconds of start-up, Atomics.waitAsync on a quiet word does not), and
// a long drain yields through a message channel so that queued events
// (incoming frames, host control messages) run. Internal.
import { SAB_TICK } from "../actor/_protocol.ts";

/** The periodic work of one actor runtime, and its way to yield. */
export class Ticker {
  #sab: Int32Array;
  #ticking = true;
  #channel: MessageChannel | undefined;
  #resolve: (() => void) | undefined;

  /** @param sab The worker's status words; it waits on the never-written `SAB_TICK`. */
  constructor(sab: Int32Array) {
    this.#sab = sab;
  }

  /** Whether periodic work still runs (until `stop` or `dispose`). */
  get ticking(): boolean {
    return this.#ticking;
  }

  /** Runs `fn` every `ms` milliseconds while ticking. */
  every(ms: number, fn: () => void): void {
    const loop = () => {
      if (!this.#ticking) return;
      const wait = Atomics.waitAsync(this.#sab, SAB_TICK, 0, ms);
      if (wait.async) {
        void wait.value.then(() => {
          if (!this.#ticking) return;
          fn();
          loop();
        });
      }
    };
    loop();
  }

  /** Lets queued events (incoming frames, host control messages) run. */
  yield(): Promise<void> {
    if (!this.#channel) {
      this.#channel = new MessageChannel();
      this.#channel.port1.onmessage = () => this.#resolve?.();
    }
    return new Promise<void>((resolve) => {
      this.#resolve = resolve;
      this.#channel!.port2.postMessage(null);
    });
  }

  /** Ends the periodic work (the actor stopped). */
  stop(): void {
    this.#ticking = false;
    this.#channel?.port1.close();
  }

  /** Ends the periodic work and closes the channel (the runtime is discarded). */
  dispose(): void {
    this.stop();
    this.#channel?.port2.close();
  }
}
