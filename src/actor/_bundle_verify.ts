// The last word on an actor bundle: parsed with acorn (a full ECMAScript
// parser), every static import must be one the sandbox allowed, and every
// dynamic `import(...)` whose specifier is not such a literal is turned into
// a call of a guard that rejects with MODULE_REFUSED. Internal.
//
// Edits keep every character's position (the keyword `import` becomes a
// six-letter guard name, `import.meta` an eleven-letter one), so the bundle's
// source map stays right and stack traces point into the actor's files.
import { type Node, parse } from "acorn";
import { ModuleRefusedError } from "./actor_errors.ts";

type AnyNode = Node & Record<string, unknown>;

function parseModule(code: string, module: string, what: string): AnyNode {
  try {
    return parse(code, {
      ecmaVersion: "latest",
      sourceType: "module",
      allowHashBang: true,
    }) as unknown as AnyNode;
  } catch (error) {
    throw new ModuleRefusedError(
      module,
      what,
      `its code cannot be verified (${(error as Error).message})`,
    );
  }
}

/**
 * Visits every node of an ESTree tree, depth first.
 *
 * @param node The root.
 * @param visit Called with each node.
 */
export function walk(node: AnyNode, visit: (node: AnyNode) => void): void {
  visit(node);
  for (const key in node) {
    const value = node[key];
    if (Array.isArray(value)) {
      for (const item of value) if (isNode(item)) walk(item, visit);
    } else if (isNode(value)) walk(value, visit);
  }
}

function isNode(value: unknown): value is AnyNode {
  return typeof value === "object" && value !== null && typeof (value as Node).type === "string";
}

// A name of `length` characters that the code does not contain anywhere.
function freshName(code: string, stem: string, length: number): string {
  const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  for (const a of chars) {
    for (const b of chars) {
      const name = (stem + a + b).padEnd(length, "_").slice(0, length);
      if (!code.includes(name)) return name;
    }
  }
  throw new RangeError(`No free identifier of ${length} characters for "${stem}"`);
}

function splice(code: string, edits: { at: number; text: string }[]): string {
  let out = "";
  let last = 0;
  for (const edit of edits.sort((a, b) => a.at - b.at)) {
    out += code.slice(last, edit.at) + edit.text;
    last = edit.at + edit.text.length;
  }
  return out + code.slice(last);
}

function literal(node: unknown): string | undefined {
  const n = node as { type?: string; value?: unknown };
  return n?.type === "Literal" && typeof n.value === "string" ? n.value : undefined;
}

/**
 * Verifies a bundle and neutralises its dynamic imports.
 *
 * @param code The bundle (one ES module).
 * @param options The actor module (for messages) and the external specifiers the sandbox allowed.
 * @returns The bundle, with a guard in place of every dynamic import not in `externals`.
 * @throws {ModuleRefusedError} When a static import is not allowed, `import.meta` is left, or the code does not parse.
 */
export function verifyBundle(
  code: string,
  options: { module: string; externals: ReadonlySet<string> },
): string {
  const { module, externals } = options;
  const program = parseModule(code, module, module);
  const guard = freshName(code, "__oa", 6);
  const edits: { at: number; text: string }[] = [];
  walk(program, (node) => {
    switch (node.type) {
      case "ImportDeclaration":
      case "ExportAllDeclaration":
      case "ExportNamedDeclaration": {
        if (node.source === null || node.source === undefined) return;
        const specifier = literal(node.source) ?? "";
        if (!externals.has(specifier)) {
          throw new ModuleRefusedError(
            module,
            specifier,
            "the bundle imports an unverified module",
          );
        }
        return;
      }
      case "ImportExpression": {
        const specifier = literal(node.source);
        if (specifier !== undefined && externals.has(specifier)) return;
        if (code.slice(node.start, node.start + 6) !== "import") {
          throw new ModuleRefusedError(module, "import()", "its code cannot be verified");
        }
        edits.push({ at: node.start, text: guard });
        return;
      }
      case "MetaProperty":
        if ((node.meta as { name: string }).name === "import") {
          throw new ModuleRefusedError(module, "import.meta", "the bundle still uses import.meta");
        }
        return;
    }
  });
  // A hoisted function declaration at the end: no line of the bundle moves.
  return `${splice(code, edits)}\n${guardSource(guard, module)}\n`;
}

function guardSource(name: string, module: string): string {
  const prefix = JSON.stringify(`Cannot load "${module}": import "`);
  const reason = JSON.stringify(
    '" is refused: computed dynamic imports are not allowed inside an actor ' +
      "(only imports with a literal specifier are verified and bundled)",
  );
  return `function ${name}(specifier) {
  let text;
  try { text = String(specifier).slice(0, 200); } catch { text = "?"; }
  const error = new Error(${prefix} + text + ${reason});
  error.name = "ModuleRefusedError";
  error.code = "MODULE_REFUSED";
  return Promise.reject(error);
}`;
}

/**
 * Replaces `import.meta` in one module's JavaScript with a frozen object
 * that describes the module's original URL (in a bundle, `import.meta`
 * would describe the bundle).
 *
 * @param code The module, as JavaScript.
 * @param url The module's original URL.
 * @param module The actor module, for messages.
 * @returns The code; unchanged when it has no `import.meta`.
 * @throws {ModuleRefusedError} When the code does not parse.
 */
export function rewriteImportMeta(code: string, url: string, module: string): string {
  const program = parseModule(code, module, url);
  const name = freshName(code, "__oaoMeta", 11);
  const edits: { at: number; text: string }[] = [];
  walk(program, (node) => {
    if (node.type === "MetaProperty" && (node.meta as { name: string }).name === "import") {
      if (node.end - node.start !== name.length) {
        throw new ModuleRefusedError(module, url, "its use of import.meta cannot be verified");
      }
      edits.push({ at: node.start, text: name });
    }
  });
  if (edits.length === 0) return code;
  const file = url.startsWith("file:") ? new URL(url).pathname : undefined;
  const meta = {
    url,
    main: false,
    filename: file && decodeURIComponent(file),
    dirname: file && decodeURIComponent(file.replace(/\/[^/]*$/, "")),
  };
  // On the first line, before the code: only line 1's columns shift.
  const head = `const ${name} = Object.freeze({ ...${
    JSON.stringify(meta)
  }, resolve: (s) => new URL(s, ${JSON.stringify(url)}).href });`;
  return head + splice(code, edits);
}
