// What the host learns about an agent's module before it runs it: that the
// module exists (at registration), and the version its `defineAgent` call
// declares (before an execution's hash is computed). Internal.
//
// How the version is read: statically, from the module's verified bundle —
// the JavaScript its workers load — with acorn. The execution hash is
// computed before the first step, so before any worker of the agent starts;
// the host bundles and verifies every agent module before it spawns it
// anyway (once per process, and from the disk cache in later processes), so
// reading the version there costs one more parse of that bundle: no worker
// start, no extra build, nothing at registration. Agent modules are
// TypeScript, which acorn cannot read; their bundle is plain JavaScript.
import { type Node, parse } from "acorn";
import { portableActorModule } from "../actor/_module_sandbox.ts";
import type { PermissionValue } from "../actor/permissions.ts";

type AnyNode = Node & Record<string, unknown>;

/**
 * Checks that an agent's module exists, when it is a local file this
 * process may look at (remote modules and unreadable paths are left to the
 * spawn, which reports them).
 *
 * @param agent The agent's name, for the message.
 * @param given The module as registered.
 * @param url The module's resolved URL.
 * @throws {TypeError} Naming the resolved path, when there is no file there.
 */
export function assertAgentModuleExists(agent: string, given: string | URL, url: string): void {
  if (!url.startsWith("file:")) return;
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(new URL(url));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) return; // no read permission: the spawn says
    throw new TypeError(`Cannot register agent "${agent}": ${missing(given, url)}`);
  }
  if (!info.isFile) {
    throw new TypeError(
      `Cannot register agent "${agent}": its module "${pathOf(url)}" is not a file`,
    );
  }
}

function missing(given: string | URL, url: string): string {
  const path = pathOf(url);
  if (typeof given === "string" && !/^[a-z][a-z0-9+.-]*:/i.test(given) && !given.startsWith("/")) {
    return `its module "${given}" resolves to "${path}", which does not exist (a relative path ` +
      `is resolved against the working directory "${Deno.cwd()}"; to resolve it against your ` +
      `own module, pass a URL such as new URL("${given}", import.meta.url))`;
  }
  return `its module "${path}" does not exist (check the path; new URL("./agent.ts", ` +
    `import.meta.url) and import.meta.resolve("./agent.ts") resolve against the calling module)`;
}

function pathOf(url: string): string {
  return decodeURIComponent(new URL(url).pathname);
}

/**
 * The version an agent module declares: the string literal `version` of the
 * object its default export passes to `defineAgent`, read from the module's
 * verified bundle (built now if this process has not built it yet; the
 * spawn reuses it).
 *
 * @param module The agent module's URL.
 * @param importHosts The agent's `import` permission (part of the bundle's identity).
 * @returns The declared version, or `undefined` when it declares none (or
 *   not as a literal).
 * @throws {Error} When the module cannot be bundled (its spawn would fail the same way).
 */
export async function declaredAgentVersion(
  module: string,
  importHosts: PermissionValue,
): Promise<string | undefined> {
  // The same module and options as the spawn's (agents have no `root`): one bundle for both.
  const { code } = await portableActorModule(module, { root: undefined, importHosts });
  return agentVersionInBundle(code);
}

/**
 * The version declared in a bundled agent module: `export default
 * defineAgent({ version: "1.2.0", … })`, also through constants
 * (`const agent = defineAgent(definition); export default agent;`).
 *
 * @param code The bundle (one ES module, as esbuild writes it).
 * @returns The version, or `undefined` when none is found as a string literal.
 */
export function agentVersionInBundle(code: string): string | undefined {
  let program: AnyNode;
  try {
    program = parse(code, {
      ecmaVersion: "latest",
      sourceType: "module",
      allowHashBang: true,
    }) as unknown as AnyNode;
  } catch {
    return undefined;
  }
  const constants = new Map<string, AnyNode>();
  const imported = new Map<string, string>(); // local name → imported name ("*" for a namespace)
  let exported: AnyNode | undefined;
  for (const statement of program.body as AnyNode[]) {
    if (statement.type === "ImportDeclaration") {
      for (const spec of statement.specifiers as AnyNode[]) {
        const local = (spec.local as { name: string }).name;
        if (spec.type === "ImportNamespaceSpecifier") imported.set(local, "*");
        else if (spec.type === "ImportSpecifier") imported.set(local, nameOf(spec.imported));
      }
    } else if (statement.type === "VariableDeclaration") {
      for (const declarator of statement.declarations as AnyNode[]) {
        const id = declarator.id as AnyNode;
        if (id.type === "Identifier" && declarator.init) {
          constants.set(id.name as string, declarator.init as AnyNode);
        }
      }
    } else if (statement.type === "ExportDefaultDeclaration") {
      exported = statement.declaration as AnyNode;
    } else if (statement.type === "ExportNamedDeclaration" && !statement.source) {
      for (const spec of (statement.specifiers ?? []) as AnyNode[]) {
        if (nameOf(spec.exported) === "default") exported = spec.local as AnyNode;
      }
    }
  }
  const call = follow(exported, constants);
  if (call?.type !== "CallExpression" || !isDefineAgent(call.callee as AnyNode, imported)) {
    return undefined;
  }
  const definition = follow((call.arguments as AnyNode[])[0], constants);
  if (definition?.type !== "ObjectExpression") return undefined;
  let version: string | undefined;
  for (const property of definition.properties as AnyNode[]) {
    if (property.type !== "Property" || property.computed) continue;
    if (nameOf(property.key) !== "version") continue;
    version = stringValue(follow(property.value as AnyNode, constants));
  }
  return version;
}

// Through identifiers bound to top-level constants, a few hops at most.
function follow(node: AnyNode | undefined, constants: Map<string, AnyNode>): AnyNode | undefined {
  for (let hops = 0; node?.type === "Identifier" && hops < 8; hops++) {
    node = constants.get(node.name as string);
  }
  return node;
}

function isDefineAgent(callee: AnyNode, imported: Map<string, string>): boolean {
  if (callee.type === "Identifier") {
    const name = callee.name as string;
    return imported.get(name) === "defineAgent" || /^defineAgent\d*$/.test(name);
  }
  return callee.type === "MemberExpression" && !callee.computed &&
    (callee.object as AnyNode).type === "Identifier" &&
    imported.get((callee.object as AnyNode).name as string) === "*" &&
    nameOf(callee.property) === "defineAgent";
}

function nameOf(node: unknown): string {
  const n = node as { type?: string; name?: unknown; value?: unknown };
  if (n?.type === "Identifier") return String(n.name);
  if (n?.type === "Literal") return String(n.value);
  return "";
}

function stringValue(node: AnyNode | undefined): string | undefined {
  if (node?.type === "Literal" && typeof node.value === "string") return node.value;
  if (node?.type === "TemplateLiteral" && (node.expressions as unknown[]).length === 0) {
    const cooked = ((node.quasis as AnyNode[])[0]?.value as { cooked?: unknown })?.cooked;
    return typeof cooked === "string" ? cooked : undefined;
  }
  return undefined;
}
