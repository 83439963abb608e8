/**
 * Named API tokens: each bearer token has a name, which the API records as
 * who decided an approval (and logs). `OAO_API_TOKENS` lists them as
 * `name:token` pairs separated by commas; `OAO_API_TOKEN`, a single token,
 * keeps working and is named `"default"`. Both may be set.
 *
 * @example
 * ```ts
 * import { parseApiTokens } from "./api_tokens.ts";
 * const tokens = parseApiTokens({
 *   OAO_API_TOKENS: "alice:4f1c8a7d2e9b6c3a,bob:9e8d7c6b5a4f3e2d",
 * });
 * console.assert(tokens.map((t) => t.name).join() === "alice,bob");
 * ```
 *
 * @module
 */

/** A bearer token and the name it is known by. */
export interface ApiToken {
  /** Who holds it: 1–64 letters, digits, `_`, `.`, `@` or `-`. */
  name: string;
  /** The secret, at least {@linkcode MIN_API_TOKEN_LENGTH} characters. */
  token: string;
}

/** Shortest token accepted: a bearer token that guards the API must not be guessable. */
export const MIN_API_TOKEN_LENGTH = 16;

/** Name of the token `OAO_API_TOKEN` gives. */
export const DEFAULT_TOKEN_NAME = "default";

const NAME = /^[A-Za-z0-9_.@-]{1,64}$/;

/**
 * Reads the tokens of `OAO_API_TOKEN` and `OAO_API_TOKENS`.
 *
 * @param env The two variables (unset or empty: none).
 * @returns The tokens; none means the API is open.
 * @throws {TypeError} Naming the variable and the entry that is malformed,
 *   too short, or a name or token given twice (the token itself is never shown).
 *
 * @example
 * ```ts
 * import { parseApiTokens } from "./api_tokens.ts";
 * const [token] = parseApiTokens({ OAO_API_TOKEN: "0123456789abcdef0123" });
 * console.assert(token?.name === "default");
 * ```
 */
export function parseApiTokens(
  env: { OAO_API_TOKEN?: string | undefined; OAO_API_TOKENS?: string | undefined },
): ApiToken[] {
  const tokens: ApiToken[] = [];
  const single = env.OAO_API_TOKEN?.trim();
  if (single) tokens.push(checked("OAO_API_TOKEN", DEFAULT_TOKEN_NAME, single, 1));
  const entries = (env.OAO_API_TOKENS ?? "").split(",").map((e) => e.trim()).filter(Boolean);
  entries.forEach((entry, i) => {
    const colon = entry.indexOf(":");
    if (colon < 0) {
      throw new TypeError(
        `Invalid OAO_API_TOKENS entry ${
          i + 1
        }: expected name:token (e.g. alice:<openssl rand -hex 32>)`,
      );
    }
    tokens.push(
      checked("OAO_API_TOKENS", entry.slice(0, colon).trim(), entry.slice(colon + 1).trim(), i + 1),
    );
  });
  const names = new Set<string>();
  const secrets = new Set<string>();
  for (const { name, token } of tokens) {
    if (names.has(name)) {
      throw new TypeError(`Invalid API tokens: the name "${name}" is given twice`);
    }
    if (secrets.has(token)) {
      throw new TypeError(`Invalid API tokens: the token of "${name}" is given twice`);
    }
    names.add(name);
    secrets.add(token);
  }
  return tokens;
}

function checked(variable: string, name: string, token: string, entry: number): ApiToken {
  if (!NAME.test(name)) {
    throw new TypeError(
      `Invalid ${variable} entry ${entry}: the name ${
        JSON.stringify(name.slice(0, 70))
      } must be 1–64 letters, digits, "_", ".", "@" or "-"`,
    );
  }
  if (token.length < MIN_API_TOKEN_LENGTH) {
    throw new TypeError(
      `Invalid ${variable}${
        variable === "OAO_API_TOKEN" ? "" : ` entry ${entry} ("${name}")`
      }: expected at least ${MIN_API_TOKEN_LENGTH} characters (got ${token.length}); make one with: openssl rand -hex 32`,
    );
  }
  return { name, token };
}
