/**
 * Helpers of the Deno KV tests: a temporary directory per test, removed
 * afterwards, and the Deno KV file in it.
 *
 * @module
 */

/** A temporary directory holding one Deno KV file. */
export interface TempKv {
  /** The directory. */
  dir: string;
  /** The file's path inside it (not created). */
  path: string;
  /** Removes the directory. */
  remove(): Promise<void>;
}

/**
 * Creates a temporary directory for a Deno KV file.
 *
 * @returns The directory and the file path.
 */
export async function tempKv(): Promise<TempKv> {
  const dir = await Deno.makeTempDir({ prefix: "oao-kv-test-" });
  return {
    dir,
    path: `${dir}/oao.kv`,
    remove: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
  };
}
