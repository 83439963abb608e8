/**
 * How `KvEventStore` lays out an execution's log in Deno KV.
 *
 * ## Keys (below the store's prefix `p`, `"oao"` by default)
 * - `[p, "e", <executionId>, <gen>, <seq>]` — event `seq` of generation
 *   `gen` of the log: a 34-byte header, then the event as UTF-8 JSON (or, for
 *   an event larger than one value, a reference to its parts).
 * - `[p, "eb", <executionId>, <blobId>, <part>]` — the parts of a large event.
 * - `[p, "ek", <executionId>, <gen>, <key>, <seq>]` — an index key (see
 *   `EventStore.findByKey`): its latest `seq` is the last key of its prefix.
 *   Keys longer than 512 bytes are stored as their SHA-256 digest (bytes).
 * - `[p, "ef", <executionId>]` — fencing token and claim (`_fence_record.ts`).
 * - `[p, "ex", <time>, <executionId>]` — the executions listing
 *   (`_executions_index.ts`).
 * - `[p, "ew"]` — the log clock, set by every commit that changes a log
 *   (`_log_clock.ts`).
 *
 * ## The last event is the head
 * Every event's header carries the state of the log as of its append: when
 * the log expires (`x`), the earliest time any entry of the generation may be
 * deleted by Deno KV (`k`, see Retention in `kv_event_store.ts`), the time of
 * the append (`t`) and the time under which the log is listed (`i`). So the
 * state of a log is one read (the last key under `[p, "e", <executionId>]`),
 * and an append writes one entry per event and nothing else.
 *
 * A log whose time has come is dead; the next append starts a new
 * generation (`gen + 1`) at seq 1, so that entries of the old one that Deno
 * KV has not deleted yet are never read as part of the new one.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { CorruptDataError } from "../persistence/store_errors.ts";
import type { StoredEvent } from "../events/event_store.ts";
import { _decodeEvent } from "../events/_event_codec.ts";
import { _readParts } from "./_chunks.ts";
import { _utf8Length } from "./_limits.ts";

/** @internal The state of a log, from its last event. */
export interface _LogHead {
  /** Generation (0: no log was ever found). */
  g: number;
  /** Last sequence number (0: no event). */
  s: number;
  /** When the log expires (store clock, ms). */
  x: number;
  /** No entry of the generation is deleted by Deno KV before this time. */
  k: number;
  /** Time of the last append. */
  t: number;
  /** Time of the log's entry in the executions listing (0: none). */
  i: number;
}

/** @internal Bytes of the header of an event value. */
export const _HEADER_BYTES = 34;
const FORMAT = 1;
const FLAG_PARTS = 1;
/** Index keys longer than this (UTF-8) are stored as their SHA-256 digest. */
const LONG_KEY = 512;

/** @internal The keys of the logs of a store, and the reads of its events. */
export class _LogKeys {
  readonly prefix: string;
  #where: () => string;
  /**
   * @param prefix First element of every key.
   * @param where Names the database in messages (`Deno KV "<path>"`).
   */
  constructor(prefix: string, where: () => string) {
    this.prefix = prefix;
    this.#where = where;
  }
  /** The database, for messages. */
  get where(): string {
    return this.#where();
  }
  /** Prefix of every event of an execution (all generations). */
  events(executionId: string): Deno.KvKey {
    return [this.prefix, "e", executionId];
  }
  event(executionId: string, at: { gen: number; seq: number }): Deno.KvKey {
    return [this.prefix, "e", executionId, at.gen, at.seq];
  }
  parts(executionId: string, blobId: string): Deno.KvKey {
    return [this.prefix, "eb", executionId, blobId];
  }
  /** Prefix of the entries of one index key (their last element is the seq). */
  indexKey(executionId: string, at: { gen: number; key: string }): Deno.KvKey {
    return [this.prefix, "ek", executionId, at.gen, _keyPart(at.key)];
  }
  indexKeys(executionId: string, gen: number): Deno.KvKey {
    return [this.prefix, "ek", executionId, gen];
  }
  fence(executionId: string): Deno.KvKey {
    return [this.prefix, "ef", executionId];
  }
  listing(time: number, executionId: string): Deno.KvKey {
    return [this.prefix, "ex", time, executionId];
  }
  listings(): Deno.KvKey {
    return [this.prefix, "ex"];
  }
  /** An execution's entry in the status index (`_status_index.ts`), ordered by creation time. */
  statusEntry(createdAt: number, executionId: string): Deno.KvKey {
    return [this.prefix, "xi", createdAt, executionId];
  }
  /** Prefix of the status index entries. */
  statusEntries(): Deno.KvKey {
    return [this.prefix, "xi"];
  }
  /** Where an execution's status index entry is: its creation time. */
  statusRef(executionId: string): Deno.KvKey {
    return [this.prefix, "xr", executionId];
  }
  /** The log clock (`_log_clock.ts`). */
  clock(): Deno.KvKey {
    return [this.prefix, "ew"];
  }
}

/** An index key as a key part: itself, or its SHA-256 digest when long. */
function _keyPart(key: string): string | Uint8Array {
  if (key.length * 3 <= LONG_KEY || _utf8Length(key) <= LONG_KEY) return key;
  return new Uint8Array(createHash("sha256").update(key).digest());
}

/**
 * A new event value: room for the header, then `body` (UTF-8 JSON, or the
 * reference to the event's parts).
 *
 * @internal
 */
export function _eventValue(body: string): Uint8Array {
  const value = new Uint8Array(_HEADER_BYTES + _utf8Length(body));
  encoder.encodeInto(body, value.subarray(_HEADER_BYTES));
  return value;
}

/**
 * Writes the header of an event value: the log's state as of the event.
 *
 * @internal
 */
export function _writeHeader(
  value: Uint8Array,
  head: Pick<_LogHead, "x" | "k" | "t" | "i"> & { inParts: boolean },
): void {
  value[0] = FORMAT;
  value[1] = head.inParts ? FLAG_PARTS : 0;
  scratch[0] = head.x;
  scratch[1] = head.k;
  scratch[2] = head.t;
  scratch[3] = head.i;
  value.set(scratchBytes, 2);
}

// The header's numbers are float64s in the machine's order (little-endian on
// every platform Deno runs on), built here and copied.
const scratch = new Float64Array(4);
const scratchBytes = new Uint8Array(scratch.buffer);
/** @internal Whether this machine stores float64s little-endian (as the header does). */
export const _LITTLE_ENDIAN: boolean = new Uint8Array(new Float64Array([1]).buffer)[7] === 0x3f;

/**
 * The state of the log as of the event in `entry` (the last one, to read the log's state).
 *
 * @throws {CorruptDataError} When the entry is not an event value.
 */
function _headOf(entry: Deno.KvEntry<unknown>, where: string): _LogHead {
  const value = _checkValue(entry, where);
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  return {
    g: entry.key[3] as number,
    s: entry.key[4] as number,
    x: view.getFloat64(2, _LITTLE_ENDIAN),
    k: view.getFloat64(10, _LITTLE_ENDIAN),
    t: view.getFloat64(18, _LITTLE_ENDIAN),
    i: view.getFloat64(26, _LITTLE_ENDIAN),
  };
}

/**
 * Reads the last event of an execution: the log's state.
 *
 * @internal
 */
export async function _readLast(
  kv: Deno.Kv,
  log: { keys: _LogKeys; executionId: string },
): Promise<{ head: _LogHead; entry: Deno.KvEntry<unknown> } | undefined> {
  const { keys, executionId } = log;
  for await (
    const entry of kv.list<unknown>({ prefix: keys.events(executionId) }, {
      reverse: true,
      limit: 1,
    })
  ) {
    return { head: _headOf(entry, `${keys.where} ${_keyText(entry.key)}`), entry };
  }
  return undefined;
}

/**
 * Decodes a stored event (reading its parts when it has some).
 *
 * @throws {CorruptDataError} When the value cannot be decoded.
 * @internal
 */
export async function _decodeStored(
  kv: Deno.Kv,
  stored: { keys: _LogKeys; entry: Deno.KvEntry<unknown> },
): Promise<StoredEvent> {
  const { keys, entry } = stored;
  const executionId = entry.key[2] as string;
  const seq = entry.key[4] as number;
  const at = `${keys.where} ${_keyText(entry.key)}`;
  const value = _checkValue(entry, at);
  let body = value.subarray(_HEADER_BYTES);
  if (value[1]! & FLAG_PARTS) {
    const ref = _json(body, at) as { b?: unknown; n?: unknown } | null;
    if (typeof ref?.b !== "string" || typeof ref.n !== "number") {
      throw new CorruptDataError(at, `event ${seq} of "${executionId}" has a bad parts reference`);
    }
    body = await _readParts(kv, keys.parts(executionId, ref.b), { count: ref.n, where: at });
  }
  return _decodeEvent(executionId, seq, decoder.decode(body), at);
}

/**
 * The body that refers to the parts of a large event.
 *
 * @internal
 */
export function _partsReference(blobId: string, count: number): string {
  return JSON.stringify({ b: blobId, n: count });
}

/**
 * The blob id of an event value stored in parts, if it is one.
 *
 * @internal
 */
export function _partsOf(value: Uint8Array): { b: string; n: number } | undefined {
  if (!(value[1]! & FLAG_PARTS)) return undefined;
  try {
    return JSON.parse(decoder.decode(value.subarray(_HEADER_BYTES)));
  } catch {
    return undefined;
  }
}

/**
 * A key as text, for messages.
 *
 * @internal
 */
export function _keyText(key: Deno.KvKey): string {
  return `[${
    key.map((part) =>
      typeof part === "string"
        ? JSON.stringify(part)
        : part instanceof Uint8Array
        ? `<${part.length} bytes>`
        : String(part)
    ).join(", ")
  }]`;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function _checkValue(entry: Deno.KvEntry<unknown>, where: string): Uint8Array {
  const value = entry.value;
  if (
    !(value instanceof Uint8Array) || value.length < _HEADER_BYTES || value[0] !== FORMAT ||
    typeof entry.key[3] !== "number" || typeof entry.key[4] !== "number"
  ) {
    throw new CorruptDataError(where, "the entry is not an event of a Deno KV event log");
  }
  return value;
}

function _json(bytes: Uint8Array, where: string): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch (error) {
    throw new CorruptDataError(where, "the reference to the event's parts is not JSON", {
      cause: error,
    });
  }
}
