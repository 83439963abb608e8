/**
 * A map that forgets its oldest entries past a size: what a KV store keeps in
 * memory of the data it wrote or read (heads, fence records, versionstamps).
 *
 * @module
 */

/** @internal A bounded map; `remember` makes an entry the newest. */
export class _Remembered<V> extends Map<string, V> {
  #limit: number;

  /** @param limit Most entries kept; the oldest tenth goes when it is passed. */
  constructor(limit: number) {
    super();
    this.#limit = limit;
  }

  /** Sets an entry as the newest, forgetting the oldest ones past the limit. */
  remember(key: string, value: V): void {
    this.delete(key);
    this.set(key, value);
    if (this.size <= this.#limit) return;
    let drop = Math.ceil(this.#limit / 10);
    for (const old of this.keys()) {
      this.delete(old);
      if (--drop <= 0) break;
    }
  }
}
