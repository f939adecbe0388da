// The one file that talks to binaryen (as AssemblyScript's module.ts does): kernels and the module
// assembler build code through WasmModule and FunctionBuilder, never through binaryen directly.
//
// A generated module owns exactly one memory, sized to the planned arena and never grown: its
// initial and maximum page counts are equal. Every buffer offset is a compile-time constant, so
// addresses are `const + index * elementBytes`; binaryen folds the constant into the load/store
// offset immediate.

import binaryen from "binaryen";
import { DEBUG_IMPORT } from "./debug.ts";

export type Expr = binaryen.ExpressionRef;
export type WasmType = "i32" | "i64" | "f32" | "f64" | "v128";

const TYPES: Record<WasmType, binaryen.Type> = {
  i32: binaryen.i32, i64: binaryen.i64, f32: binaryen.f32, f64: binaryen.f64, v128: binaryen.v128,
};

export const PAGE_BYTES = 65536;

/** A call of an entry point (WasmModule.entry) and an end-of-step copy. */
export interface EntryCall {
  readonly func: string;
  readonly args: readonly number[];
}
export interface EntryCopy {
  readonly dest: number;
  readonly src: number;
  readonly bytes: number;
}

/** The debug probe's internal name (debug.ts). */
const PROBE = "__mlc_debug_probe";

/** A local variable of the function being built. */
export interface Local {
  readonly index: number;
  readonly type: WasmType;
}

export interface EmitOptions {
  /** binaryen optimisation level 0–4 (default 3) and shrink level 0–2 (default 1). */
  optimizeLevel?: number;
  shrinkLevel?: number;
  /** Largest function (binaryen's size measure) inlined into its only caller (-1: any). */
  oneCallerInlineMaxSize?: number;
}

/**
 * Every node's kernel is a function called once, from its entry point. Inlining all of them (what
 * binaryen does by default with one-caller functions) yields one huge entry function whose
 * optimisation time grows much faster than the graph: emitting a depth-32 ResNet training step
 * took 86 s, 3.9 s without it (bench/checkpoint.ts). Kernels stay functions; small helpers still
 * inline.
 */
export const ONE_CALLER_INLINE_MAX_SIZE = 64;

/**
 * Made-up base offsets of a template's buffers (WasmModule.template): buffer k's bytes sit at
 * TEMPLATE_BASE + k * TEMPLATE_SPACING in the first emission, and in reverse order shifted by
 * TEMPLATE_SHIFT (16-byte aligned, not 32) in the second. A constant within TEMPLATE_SLACK bytes
 * of a buffer (a loop's end pointer, one step before its start) is read as an address in it.
 * Every value stays below 2^31, so signed comparisons of addresses mean what they meant.
 */
const TEMPLATE_BASE = 0x0800_0000;
const TEMPLATE_SPACING = 0x0600_0000;
const TEMPLATE_SHIFT = 0x0012_3450;
const TEMPLATE_SLACK = 0x1000;
const TEMPLATE_MAX_BUFFERS = 11;
const TEMPLATE_MAX_BUFFER_BYTES = 0x0400_0000;

export class WasmModule {
  private readonly m = new binaryen.Module();
  readonly memoryBytes: number;

  constructor(arenaBytes: number) {
    this.m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128 | binaryen.Features.BulkMemory | binaryen.Features.BulkMemoryOpt |
      binaryen.Features.NontrappingFPToInt | binaryen.Features.SignExt | binaryen.Features.MutableGlobals);
    const pages = Math.max(1, Math.ceil(arenaBytes / PAGE_BYTES));
    this.memoryBytes = pages * PAGE_BYTES;
    this.m.setMemory(pages, pages, "memory");
  }

  /**
   * Defines a function with no parameters and no result (every kernel reads and writes the arena
   * at constant offsets). `build` receives a FunctionBuilder and returns the body's statements.
   */
  func(name: string, build: (f: FunctionBuilder) => Expr[]): void {
    const f = new FunctionBuilder(this.m);
    const body = build(f);
    this.m.addFunction(name, binaryen.none, binaryen.none, f.localTypes(), this.m.block(null, body, binaryen.none));
  }

  /** A function taking i32 parameters and returning an optional i32/f32 (for exported entry points with arguments). */
  funcWithParams(name: string, params: readonly WasmType[], result: WasmType | "none", build: (f: FunctionBuilder) => Expr[]): void {
    const f = new FunctionBuilder(this.m, params);
    const body = build(f);
    const resultType = result === "none" ? binaryen.none : TYPES[result];
    this.m.addFunction(name, binaryen.createType(params.map((p) => TYPES[p])), resultType, f.localTypes(), this.m.block(null, body, resultType));
  }

  /**
   * Defines a kernel template: a function whose body is `build`'s, with its buffers' base offsets
   * as i32 parameters instead of constants, so that every node with the same kernel code up to
   * where its buffers sit calls one function (a deep net repeats a few dozen kernels hundreds of
   * times; each specialised copy would be built and optimised again).
   *
   * `build` emits the kernel as usual, given made-up base offsets, one per buffer (`sizes`: each
   * buffer's bytes). The builder turns every i32 constant that lands inside a made-up buffer (and
   * every load or store offset immediate) into that parameter plus the distance from the base.
   * The kernel is emitted twice, with two sets of bases (different values, alignments and order),
   * and the template is kept only when both bodies come out the same: then every address in it is
   * its buffer's base plus a constant, and nothing in the kernel depended on where the buffers sit
   * (a kernel that branches on an offset's alignment, order or value, or computes with an offset
   * other than by adding to it, gives two different bodies). Returns whether it was defined; when
   * not, the caller emits the node specialised (`func`).
   */
  template(name: string, sizes: readonly number[], build: (f: FunctionBuilder, bases: readonly number[]) => Expr[]): boolean {
    if (sizes.length > TEMPLATE_MAX_BUFFERS || sizes.some((s) => s > TEMPLATE_MAX_BUFFER_BYTES)) return false;
    const emitWith = (bases: readonly number[]) => {
      const f = new FunctionBuilder(this.m, [], { bases, sizes });
      return { f, body: this.m.block(null, build(f, bases), binaryen.none) };
    };
    const n = sizes.length;
    const a = emitWith(sizes.map((_, k) => TEMPLATE_BASE + k * TEMPLATE_SPACING));
    const b = emitWith(sizes.map((_, k) => TEMPLATE_BASE + (n - 1 - k) * TEMPLATE_SPACING + TEMPLATE_SHIFT));
    const types = (f: FunctionBuilder) => f.localTypes().join(",");
    if (types(a.f) !== types(b.f) || binaryen.emitText(a.body) !== binaryen.emitText(b.body)) return false;
    this.m.addFunction(name, binaryen.createType(sizes.map(() => binaryen.i32)), binaryen.none, a.f.localTypes(), a.body);
    return true;
  }

  export(funcName: string, exportName = funcName): void {
    this.m.addFunctionExport(funcName, exportName);
  }

  /**
   * An exported entry point that only calls functions of this module in order, each with i32
   * constant arguments (a node's kernel, with its buffers' offsets when it is a template), then
   * copies `copies` (dest, src, bytes). It is added after the module is optimised (emit): such a
   * body has nothing to optimise, and at one call per node it is the one function that grows
   * with the graph. With `probe` (a debug build, debug.ts) it also calls the imported
   * `mlc_debug.probe(probe, event)` before the first call (event 0), after call k (event k + 1)
   * and after the copies.
   */
  entry(name: string, calls: readonly EntryCall[], copies: readonly EntryCopy[], probe?: number): void {
    this.entries.push({ name, calls, copies, ...(probe === undefined ? {} : { probe }) });
  }

  private readonly entries: { name: string; calls: readonly EntryCall[]; copies: readonly EntryCopy[]; probe?: number }[] = [];

  /** Builds the entry functions (after optimisation), calling each function by the name `resolve` gives. */
  private addEntries(resolve: (func: string) => string): void {
    if (this.entries.some((e) => e.probe !== undefined)) {
      this.m.addFunctionImport(PROBE, DEBUG_IMPORT.module, DEBUG_IMPORT.base, binaryen.createType([binaryen.i32, binaryen.i32]), binaryen.none);
    }
    for (const e of this.entries) {
      const f = new FunctionBuilder(this.m);
      const probe = (event: number) => (e.probe === undefined ? [] : [f.call(PROBE, [f.i32.const(e.probe), f.i32.const(event)])]);
      const body = [
        ...probe(0),
        ...e.calls.flatMap((c, k) => [f.call(resolve(c.func), c.args.map((a) => f.i32.const(a))), ...probe(k + 1)]),
        ...e.copies.map((c) => f.copy(c.dest, c.src, c.bytes)),
        ...probe(e.calls.length + 1),
      ];
      this.m.addFunction(e.name, binaryen.none, binaryen.none, f.localTypes(), this.m.block(null, body, binaryen.none));
      this.m.addFunctionExport(e.name, e.name);
    }
  }

  validate(): boolean {
    return Boolean(this.m.validate());
  }

  /**
   * Validates, optimises and returns the binary. Throws with binaryen's text on invalid code.
   * The functions entry points call are exported while binaryen optimises (so it keeps them and
   * their signatures, as it does any export), then the entry points are added calling them by
   * the names they have after optimisation (identical functions may have been merged).
   */
  emit(opts: EmitOptions = {}): Uint8Array {
    const called = [...new Set(this.entries.flatMap((e) => e.calls.map((c) => c.func)))];
    const exported = new Map(called.map((func, k) => [func, `__mlc_entry_call_${k}`] as const));
    for (const [func, name] of exported) this.m.addFunctionExport(func, name);
    const check = () => {
      if (!this.m.validate()) throw new Error(`generated wasm does not validate:\n${this.m.emitText().slice(0, 4000)}`);
    };
    check();
    binaryen.setOptimizeLevel(opts.optimizeLevel ?? 3);
    binaryen.setShrinkLevel(opts.shrinkLevel ?? 1);
    binaryen.setOneCallerInlineMaxSize(opts.oneCallerInlineMaxSize ?? ONE_CALLER_INLINE_MAX_SIZE);
    this.m.optimize();
    const resolved = new Map([...exported].map(([func, name]) => [func, binaryen.getExportInfo(this.m.getExport(name)).value] as const));
    for (const name of exported.values()) this.m.removeExport(name);
    this.addEntries((func) => resolved.get(func)!);
    check();
    return this.m.emitBinary();
  }

  /** Text form, for debugging and tests. */
  text(): string {
    return this.m.emitText();
  }

  dispose(): void {
    this.m.dispose();
  }
}

/**
 * Builds one function body: locals, structured loops and the typed instruction sets. The
 * instruction namespaces (`i32`, `f32`, `f32x4`, ...) are binaryen's own, re-exposed here so
 * that kernels stay inside this wrapper.
 */
export class FunctionBuilder {
  private readonly types: WasmType[] = [];
  private labels = 0;
  readonly params: readonly Local[];
  /** In a template (WasmModule.template): the namespaces with constants and memory offsets rebased. */
  private readonly rebased?: { i32: binaryen.Module["i32"]; i64: binaryen.Module["i64"]; f32: binaryen.Module["f32"]; f64: binaryen.Module["f64"]; v128: binaryen.Module["v128"] };

  constructor(
    private readonly m: binaryen.Module,
    params: readonly WasmType[] = [],
    private readonly template?: { readonly bases: readonly number[]; readonly sizes: readonly number[] },
  ) {
    const all: WasmType[] = template ? [...template.bases.map((): WasmType => "i32"), ...params] : [...params];
    this.params = all.map((type, index) => ({ index, type }));
    if (template) {
      this.rebased = {
        i32: this.rebasedNamespace(m.i32, true),
        i64: this.rebasedNamespace(m.i64),
        f32: this.rebasedNamespace(m.f32),
        f64: this.rebasedNamespace(m.f64),
        v128: this.rebasedNamespace(m.v128),
      };
    }
  }

  get i32() { return this.rebased?.i32 ?? this.m.i32; }
  get i64() { return this.rebased?.i64 ?? this.m.i64; }
  get f32() { return this.rebased?.f32 ?? this.m.f32; }
  get f64() { return this.rebased?.f64 ?? this.m.f64; }
  get v128() { return this.rebased?.v128 ?? this.m.v128; }
  get f32x4() { return this.m.f32x4; }
  get i32x4() { return this.m.i32x4; }
  get i8x16() { return this.m.i8x16; }
  get i16x8() { return this.m.i16x8; }
  get i64x2() { return this.m.i64x2; }
  get f64x2() { return this.m.f64x2; }

  /** The template buffer whose made-up bytes (with the slack) hold `value`, and its distance from the base. */
  private bufferAt(value: number): { k: number; delta: number } | undefined {
    const t = this.template!;
    for (let k = 0; k < t.bases.length; k++) {
      const delta = value - t.bases[k];
      if (delta >= -TEMPLATE_SLACK && delta <= t.sizes[k] + TEMPLATE_SLACK) return { k, delta };
    }
    return undefined;
  }

  /** A copy of a binaryen namespace whose i32 constants (`constants`) and load/store offsets are rebased. */
  private rebasedNamespace<N extends object>(ns: N, constants = false): N {
    const m = this.m;
    const out = Object.create(ns) as Record<string, unknown>;
    const param = (k: number) => m.local.get(k, binaryen.i32);
    if (constants) {
      out.const = (value: number) => {
        const at = this.bufferAt(value);
        if (!at) return m.i32.const(value);
        return at.delta === 0 ? param(at.k) : m.i32.add(param(at.k), m.i32.const(at.delta));
      };
    }
    for (const key of Object.keys(ns)) {
      const op = (ns as Record<string, unknown>)[key];
      if (typeof op !== "function" || !/^(load|store)/.test(key)) continue;
      // (offset, align, ptr, ...) or, for the lane forms, (offset, align, lane, ptr, vector)
      const ptrArg = key.endsWith("_lane") ? 3 : 2;
      out[key] = (...args: unknown[]) => {
        const at = this.bufferAt(args[0] as number);
        if (at) {
          const base = at.delta >= 0 ? param(at.k) : m.i32.add(param(at.k), m.i32.const(at.delta));
          args[0] = Math.max(0, at.delta);
          args[ptrArg] = m.i32.add(args[ptrArg] as Expr, base);
        }
        return (op as (...a: unknown[]) => Expr)(...args);
      };
    }
    return out as N;
  }

  localTypes(): binaryen.Type[] {
    return this.types.map((t) => TYPES[t]);
  }

  local(type: WasmType): Local {
    const index = this.params.length + this.types.length;
    this.types.push(type);
    return { index, type };
  }

  get(l: Local): Expr {
    return this.m.local.get(l.index, TYPES[l.type]);
  }

  set(l: Local, value: Expr): Expr {
    return this.m.local.set(l.index, value);
  }

  tee(l: Local, value: Expr): Expr {
    return this.m.local.tee(l.index, value, TYPES[l.type]);
  }

  block(body: Expr[]): Expr {
    return this.m.block(null, body, binaryen.none);
  }

  if(cond: Expr, then: Expr[], otherwise?: Expr[]): Expr {
    return this.m.if(cond, this.block(then), otherwise ? this.block(otherwise) : undefined);
  }

  /** A value-producing select: cond ? a : b (both evaluated). */
  select(cond: Expr, a: Expr, b: Expr): Expr {
    return this.m.select(cond, a, b);
  }

  call(funcName: string, args: Expr[] = [], result: WasmType | "none" = "none"): Expr {
    return this.m.call(funcName, args, result === "none" ? binaryen.none : TYPES[result]);
  }

  return(value?: Expr): Expr {
    return this.m.return(value);
  }

  drop(value: Expr): Expr {
    return this.m.drop(value);
  }

  nop(): Expr {
    return this.m.nop();
  }

  unreachable(): Expr {
    return this.m.unreachable();
  }

  /**
   * `for (i = from; i < to; i += step) body` over i32 with constant bounds known at compile time
   * (a count of zero emits nothing). The loop is in "do-while" form: the compiler knows it runs.
   */
  forRange(i: Local, from: number, to: number, step: number, body: Expr[]): Expr {
    if (to <= from) return this.m.nop();
    const label = `L${this.labels++}`;
    return this.block([
      this.set(i, this.i32.const(from)),
      this.m.loop(label, this.block([
        ...body,
        this.set(i, this.m.i32.add(this.get(i), this.m.i32.const(step))),
        this.m.br(label, this.m.i32.lt_s(this.get(i), this.i32.const(to))),
      ])),
    ]);
  }

  /** Like forRange, with bounds computed at run time (`while (i < to)`; checks before the first pass). */
  forDynamic(i: Local, from: Expr, to: Expr, step: Expr, body: Expr[]): Expr {
    const exit = `B${this.labels}`;
    const label = `L${this.labels++}`;
    const end = this.local("i32");
    return this.block([
      this.set(i, from),
      this.set(end, to),
      this.m.block(exit, [
        this.m.loop(label, this.block([
          this.m.br(exit, this.m.i32.ge_s(this.get(i), this.get(end))),
          ...body,
          this.set(i, this.m.i32.add(this.get(i), step)),
          this.m.br(label),
        ])),
      ]),
    ]);
  }

  // ---- addressing ---------------------------------------------------------------------------
  // Addresses are byte offsets into the one memory. `at(base, index, bytes)` is base + index*bytes.

  at(base: number, index: Expr, bytes: number): Expr {
    const scaled = bytes === 1 ? index : this.m.i32.mul(index, this.m.i32.const(bytes));
    return base === 0 ? scaled : this.m.i32.add(scaled, this.i32.const(base));
  }

  /** Loads of the arena's element types at a byte address. */
  loadF32(addr: Expr): Expr { return this.m.f32.load(0, 4, addr); }
  storeF32(addr: Expr, v: Expr): Expr { return this.m.f32.store(0, 4, addr, v); }
  loadI32(addr: Expr): Expr { return this.m.i32.load(0, 4, addr); }
  storeI32(addr: Expr, v: Expr): Expr { return this.m.i32.store(0, 4, addr, v); }
  loadU8(addr: Expr): Expr { return this.m.i32.load8_u(0, 1, addr); }
  loadI8(addr: Expr): Expr { return this.m.i32.load8_s(0, 1, addr); }
  storeU8(addr: Expr, v: Expr): Expr { return this.m.i32.store8(0, 1, addr, v); }
  loadV128(addr: Expr): Expr { return this.m.v128.load(0, 4, addr); }
  storeV128(addr: Expr, v: Expr): Expr { return this.m.v128.store(0, 4, addr, v); }

  /** memory.fill / memory.copy (bulk memory), for zeroing and moving whole buffers. */
  fill(dest: number, value: number, bytes: number): Expr {
    return this.m.memory.fill(this.i32.const(dest), this.m.i32.const(value), this.i32.const(bytes));
  }

  copy(dest: number, src: number, bytes: number): Expr {
    return this.m.memory.copy(this.i32.const(dest), this.i32.const(src), this.i32.const(bytes));
  }

  /**
   * `do { body } while (--counter != 0)`: runs `body` `counter` times; the caller guarantees
   * counter >= 1 on entry. One decrement and one branch per pass, so hot inner loops (the GEMM
   * micro-kernel) pay the least loop overhead.
   */
  countDown(counter: Local, body: Expr[]): Expr {
    const label = `L${this.labels++}`;
    return this.m.loop(label, this.block([
      ...body,
      this.m.br(label, this.tee(counter, this.m.i32.sub(this.get(counter), this.m.i32.const(1)))),
    ]));
  }

  /** memory.fill with operands computed at run time (addresses inside shared helper functions). */
  fillAt(dest: Expr, value: Expr, bytes: Expr): Expr {
    return this.m.memory.fill(dest, value, bytes);
  }

  /** memory.copy with operands computed at run time (rows picked by an index, as gather does). */
  copyAt(dest: Expr, src: Expr, bytes: Expr): Expr {
    return this.m.memory.copy(dest, src, bytes);
  }
}
