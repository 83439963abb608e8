// A small JSON Schema check, for the keywords the OpenAPI document uses:
// $ref (to #/components/schemas), type (one or a list, "integer" and "null"
// included), enum, const, properties, required, additionalProperties, items,
// minItems, maxItems, minLength, maxLength, pattern, minimum, maximum,
// exclusiveMinimum, anyOf, oneOf, allOf. Other keywords are ignored.

// deno-lint-ignore no-explicit-any
type Schema = any;

/**
 * Where a value breaks a schema of an OpenAPI document.
 *
 * @param doc The OpenAPI document (for `$ref`s).
 * @param schema The schema.
 * @param value The value.
 * @param path Where the value is, for the messages.
 * @returns One message per problem (`$.policy.maxCostUsd: expected number, got null`).
 */
export function schemaProblems(doc: Schema, schema: Schema, value: unknown, path = "$"): string[] {
  if (schema === true || schema === undefined) return [];
  if (schema === false) return [`${path}: no value is allowed`];
  if (typeof schema.$ref === "string") {
    const name = schema.$ref.replace(/^#\/components\/schemas\//, "");
    const target = doc.components?.schemas?.[name];
    if (!target) return [`${path}: unresolved $ref ${schema.$ref}`];
    return schemaProblems(doc, target, value, path);
  }
  const problems: string[] = [];
  if (schema.type !== undefined) {
    const types: string[] = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((type) => _isType(value, type))) {
      return [`${path}: expected ${types.join(" or ")}, got ${JSON.stringify(value)}`];
    }
  }
  if (schema.enum && !schema.enum.some((e: unknown) => _equal(e, value))) {
    problems.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  }
  if ("const" in schema && !_equal(schema.const, value)) {
    problems.push(`${path}: expected ${JSON.stringify(schema.const)}`);
  }
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) {
      problems.push(`${path}: ${value} < minimum ${schema.minimum}`);
    }
    if (schema.maximum !== undefined && value > schema.maximum) {
      problems.push(`${path}: ${value} > maximum ${schema.maximum}`);
    }
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) {
      problems.push(`${path}: ${value} <= exclusiveMinimum ${schema.exclusiveMinimum}`);
    }
  }
  if (typeof value === "string") {
    if (schema.minLength !== undefined && value.length < schema.minLength) {
      problems.push(`${path}: shorter than ${schema.minLength}`);
    }
    if (schema.maxLength !== undefined && value.length > schema.maxLength) {
      problems.push(`${path}: longer than ${schema.maxLength}`);
    }
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, "u").test(value)) {
      problems.push(`${path}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
    }
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) {
      problems.push(`${path}: fewer than ${schema.minItems} items`);
    }
    if (schema.maxItems !== undefined && value.length > schema.maxItems) {
      problems.push(`${path}: more than ${schema.maxItems} items`);
    }
    if (schema.items !== undefined) {
      value.forEach((item, i) =>
        problems.push(...schemaProblems(doc, schema.items, item, `${path}[${i}]`))
      );
    }
  }
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const record = value as Record<string, unknown>;
    for (const key of schema.required ?? []) {
      if (!(key in record)) problems.push(`${path}: missing required "${key}"`);
    }
    const properties = schema.properties ?? {};
    for (const [key, item] of Object.entries(record)) {
      const where = `${path}.${key}`;
      if (key in properties) problems.push(...schemaProblems(doc, properties[key], item, where));
      else if (schema.additionalProperties !== undefined) {
        problems.push(...schemaProblems(doc, schema.additionalProperties, item, where));
      }
    }
  }
  for (const part of schema.allOf ?? []) problems.push(...schemaProblems(doc, part, value, path));
  for (const [keyword, wanted] of [["anyOf", 1], ["oneOf", 1]] as const) {
    const parts: Schema[] | undefined = schema[keyword];
    if (!parts) continue;
    const passing = parts.filter((part) => schemaProblems(doc, part, value, path).length === 0);
    if (keyword === "anyOf" ? passing.length < wanted : passing.length !== wanted) {
      problems.push(`${path}: ${JSON.stringify(value)} matches ${passing.length} of ${keyword}`);
    }
  }
  return problems;
}

function _isType(value: unknown, type: string): boolean {
  switch (type) {
    case "null":
      return value === null;
    case "integer":
      return Number.isInteger(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "array":
      return Array.isArray(value);
    case "object":
      return typeof value === "object" && value !== null && !Array.isArray(value);
    case "string":
      return typeof value === "string";
    case "boolean":
      return typeof value === "boolean";
    default:
      return false;
  }
}

function _equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
