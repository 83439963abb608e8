// Requests an actor worker makes to its host (spawn or stop an actor, call a
// host service), each settled by the host's reply. Internal.
import type { HostToWorker, WorkerRequest, WorkerToHost } from "../actor/_protocol.ts";
import { fromErrorInfo } from "../oao_error.ts";

/** The requests of one actor to the host that wait for a reply. */
export class HostRequests {
  #post: (message: WorkerToHost) => void;
  #pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();

  /** @param post Sends a message to the host. */
  constructor(post: (message: WorkerToHost) => void) {
    this.#post = post;
  }

  /**
   * Sends `request` to the host as request `id`.
   *
   * @returns The value of the host's reply, or a rejection with its error.
   */
  request(id: number, request: WorkerRequest): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#post({ k: "request", id, request });
    });
  }

  /** Settles the request the host's `reply` answers. */
  settle(reply: Extract<HostToWorker, { k: "reply" }>): void {
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    if (reply.ok) pending.resolve(reply.value);
    else pending.reject(fromErrorInfo(reply.error));
  }

  /** Forgets every request (the runtime is discarded): none of them settles. */
  dispose(): void {
    this.#pending.clear();
  }
}
