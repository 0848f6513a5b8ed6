/**
 * A small declarative schema for YAML configs: each node knows its type, default and
 * documentation, validation walks a parsed document against it, and `Infer<>` derives
 * the TypeScript type of the validated config from the same declaration, so the schema
 * is the one place where a key is defined.
 */

export interface BoolNode { kind: 'bool'; default: boolean; doc: string }
export interface NumberNode { kind: 'number'; default: number | null; doc: string; int?: boolean; min?: number; max?: number; nullable?: boolean }
export interface StringNode { kind: 'string'; default: string | null; doc: string; nullable?: boolean }
export interface EnumNode<V extends string = string> { kind: 'enum'; values: readonly V[]; default: V; doc: string }
export interface ListNode { kind: 'numbers'; default: number[] | null; doc: string }
/** A value with its own parser (e.g. `false | number`, `window_<k>`). Throws a string fault. */
export interface CustomNode<T = unknown> { kind: 'custom'; default: T; doc: string; typeName: string; parse(value: unknown): T }
export interface SectionNode<F extends Record<string, SchemaNode> = Record<string, SchemaNode>> {
  kind: 'section';
  doc: string;
  fields: F;
  /** Keys matching this pattern are accepted too and collected as strings (e.g. model.name_0, name_1, ...). */
  patternKeys?: { pattern: RegExp; describe: string };
  /** Accepted keys with no effect (kept for compatibility), with the reason shown in docs. */
  ignoredKeys?: Record<string, string>;
}

export type SchemaNode = BoolNode | NumberNode | StringNode | EnumNode | ListNode | CustomNode | SectionNode;

export type Infer<S> = S extends BoolNode
  ? boolean
  : S extends NumberNode
    ? S extends { nullable: true } ? number | null : number
    : S extends StringNode
      ? S extends { nullable: true } ? string | null : string
      : S extends EnumNode<infer V>
        ? V
        : S extends ListNode
          ? number[] | null
          : S extends CustomNode<infer T>
            ? T
            : S extends SectionNode<infer F>
              ? { [K in keyof F]: Infer<F[K]> } & (S extends { patternKeys: object } ? { extraKeys: Record<string, string> } : unknown)
              : never;

export const bool = (def: boolean, doc: string): BoolNode => ({ kind: 'bool', default: def, doc });
export const int = (def: number, doc: string, min?: number, max?: number): NumberNode => ({ kind: 'number', default: def, doc, int: true, min, max });
export const num = (def: number, doc: string, min?: number, max?: number): NumberNode => ({ kind: 'number', default: def, doc, min, max });
export const optionalNum = (doc: string, opts: { int?: boolean; min?: number; max?: number } = {}) =>
  ({ kind: 'number', default: null, doc, nullable: true, ...opts }) as NumberNode & { nullable: true };
export const str = (def: string, doc: string): StringNode => ({ kind: 'string', default: def, doc });
export const optionalStr = (doc: string) => ({ kind: 'string', default: null, doc, nullable: true }) as StringNode & { nullable: true };
export const oneOf = <V extends string>(values: readonly V[], def: V, doc: string): EnumNode<V> => ({ kind: 'enum', values, default: def, doc });
export const numbers = (doc: string): ListNode => ({ kind: 'numbers', default: null, doc });
export const custom = <T>(def: T, typeName: string, doc: string, parse: (v: unknown) => T): CustomNode<T> => ({ kind: 'custom', default: def, typeName, doc, parse });
export const section = <F extends Record<string, SchemaNode>, E extends Partial<Pick<SectionNode, 'patternKeys' | 'ignoredKeys'>> = object>(
  doc: string,
  fields: F,
  extra?: E,
) => ({ kind: 'section', doc, fields, ...extra }) as SectionNode<F> & E;
