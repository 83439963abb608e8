// The actor system's watchdog: one timer, armed while any cell lives, that
// checks the workers' time limits and heartbeats (ActorCell.watch). A small
// system is checked whole on every tick; a large one a slice per tick, so
// that 100,000 idle actors do not cost a core. Internal.
import type { Clock, TimerId } from "../clock.ts";
import type { ActorCell } from "./_actor_cell.ts";
import type { ActorRegistry } from "./_actor_registry.ts";

// Systems with fewer cells are checked whole on every watchdog tick.
const WATCH_ALL_BELOW = 1_000;
// A larger system is checked in this many ticks.
const WATCH_ROUND_TICKS = 5;

/** What a {@linkcode Watchdog} needs besides the registry it watches. */
export interface WatchdogOptions {
  /** Its timer and the time it checks against. */
  readonly clock: Clock;
  /** Period of its ticks, in ms. */
  readonly intervalMs: number;
}

/** Checks the cells of a registry periodically while any of them lives. */
export class Watchdog {
  readonly #registry: ActorRegistry;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  #timer: TimerId | undefined;
  #stopped = false;
  #cursor: Iterator<ActorCell> | undefined;

  /**
   * @param registry The cells to watch.
   * @param options Clock and period.
   */
  constructor(registry: ActorRegistry, options: WatchdogOptions) {
    this.#registry = registry;
    this.#clock = options.clock;
    this.#intervalMs = options.intervalMs;
  }

  /** Arms the timer unless it is armed or the watchdog is stopped (call it when a cell is added). */
  ensure(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    const tick = () => {
      this.#timer = undefined;
      if (this.#stopped) return;
      const live = this.#watchSome(this.#clock.now());
      if (live) this.#timer = this.#clock.setTimeout(tick, this.#intervalMs);
    };
    this.#timer = this.#clock.setTimeout(tick, this.#intervalMs);
  }

  /** Disarms the timer for good. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Checks every cell now. */
  checkAll(): void {
    const now = this.#clock.now();
    for (const cell of this.#registry.values()) cell.watch(now);
  }

  // One tick: every cell of a small system; a slice of a large one, so that
  // each cell is still checked about every WATCH_ROUND_TICKS ticks. Returns
  // whether any cell lives.
  #watchSome(now: number): boolean {
    const cells = this.#registry;
    const slice = Math.max(WATCH_ALL_BELOW, Math.ceil(cells.size / WATCH_ROUND_TICKS));
    let live = false;
    for (let i = 0; i < slice; i++) {
      let next = this.#cursor?.next();
      if (!next || next.done) {
        if (i >= cells.size) break;
        this.#cursor = cells.values();
        next = this.#cursor.next();
        if (next.done) break;
      }
      next.value.watch(now);
      if (next.value.status !== "stopped") live = true;
    }
    // Part of a large system was not looked at: presumed live until a round sees it.
    return live || slice < cells.size;
  }
}
