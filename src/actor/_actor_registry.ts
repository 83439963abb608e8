// The actor system's registry: its cells by path and the tree they form
// (an actor's children are the actors it spawned), the names given to
// actors spawned without one, and stopping a subtree. Internal: users
// address actors by path through an ActorRef.
import type { ActorCell } from "./_actor_cell.ts";
import { Supervisor } from "./supervisor.ts";

/** The cells of one actor system, by path. */
export class ActorRegistry {
  readonly #cells = new Map<string, ActorCell>();
  #spawnCounter = 0;

  /** How many cells are registered (stopped ones until they are removed). */
  get size(): number {
    return this.#cells.size;
  }

  /**
   * The registered cells, in registration order.
   *
   * @returns An iterator over them.
   */
  values(): MapIterator<ActorCell> {
    return this.#cells.values();
  }

  /**
   * Paths of the actors alive now.
   *
   * @returns The paths, in registration order.
   */
  alivePaths(): string[] {
    return [...this.#cells.values()].filter((c) => c.alive).map((c) => c.path);
  }

  /**
   * The cell at `path`, whatever its status.
   *
   * @param path An actor's path.
   * @returns The cell, or `undefined`.
   */
  get(path: string): ActorCell | undefined {
    return this.#cells.get(path);
  }

  /**
   * The cell at `path` unless it has stopped.
   *
   * @param path An actor's path.
   * @returns The cell, or `undefined`.
   */
  live(path: string): ActorCell | undefined {
    const cell = this.#cells.get(path);
    return cell && cell.status !== "stopped" ? cell : undefined;
  }

  /**
   * Registers a cell under its path, as a child of `parent` if given.
   *
   * @param cell The new cell.
   * @param parent The actor that spawned it.
   */
  add(cell: ActorCell, parent: ActorCell | undefined): void {
    if (parent) {
      cell.parent = parent;
      parent.children.push(cell);
    }
    this.#cells.set(cell.path, cell);
  }

  /**
   * Removes a cell from the registry and from its parent's children.
   *
   * @param cell The cell.
   */
  remove(cell: ActorCell): void {
    if (this.#cells.get(cell.path) === cell) this.#cells.delete(cell.path);
    if (cell.parent) {
      const siblings = cell.parent.children;
      const i = siblings.indexOf(cell);
      if (i >= 0) siblings.splice(i, 1);
    }
  }

  /**
   * Stops an actor after its children (reverse start order), through its
   * supervisor when it has one, and removes it.
   *
   * @param cell The actor.
   * @param mode `graceful` drains the mailboxes and takes final snapshots.
   * @returns A promise that settles once the subtree has stopped.
   */
  async stopTree(cell: ActorCell, mode: "graceful" | "immediate"): Promise<void> {
    for (const child of [...cell.children].reverse()) await this.stopTree(child, mode);
    const owner = cell.owner;
    if (owner instanceof Supervisor) await owner.terminateChild(cell, mode);
    else await cell.shutdown(mode);
    this.remove(cell);
  }

  /**
   * A name for an actor spawned without one: its module's file name and a
   * number unique in this system.
   *
   * @param url The actor's module.
   * @returns The name.
   */
  defaultName(url: string): string {
    const base = url.split("/").pop()!.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9_.:@-]/g, "_") ||
      "actor";
    return `${base}-${++this.#spawnCounter}`;
  }
}

/**
 * Whether `cell` is in the subtree of `ancestor` (not `ancestor` itself).
 *
 * @param cell A cell.
 * @param ancestor Another cell.
 * @returns True when `ancestor` spawned `cell`, or spawned an ancestor of it.
 */
export function isDescendant(cell: ActorCell, ancestor: ActorCell): boolean {
  for (let p = cell.parent; p; p = p.parent) if (p === ancestor) return true;
  return false;
}
