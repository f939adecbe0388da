// The one file that talks to binaryen (as AssemblyScript's module.ts does): kernels and the module
// assembler build code through WasmModule and FunctionBuilder, never through binaryen directly.
//
// A generated module owns exactly one memory, sized to the planned arena and never grown: its
// initial and maximum page counts are equal. Every buffer offset is a compile-time constant, so
// addresses are `const + index * elementBytes`; binaryen folds the constant into the load/store
// offset immediate.

import binaryen from "binaryen";

export type Expr = binaryen.ExpressionRef;
export type WasmType = "i32" | "i64" | "f32" | "f64" | "v128";

const TYPES: Record<WasmType, binaryen.Type> = {
  i32: binaryen.i32, i64: binaryen.i64, f32: binaryen.f32, f64: binaryen.f64, v128: binaryen.v128,
};

export const PAGE_BYTES = 65536;

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

  export(funcName: string, exportName = funcName): void {
    this.m.addFunctionExport(funcName, exportName);
  }

  validate(): boolean {
    return Boolean(this.m.validate());
  }

  /** Validates, optimises and returns the binary. Throws with binaryen's text on invalid code. */
  emit(opts: EmitOptions = {}): Uint8Array {
    if (!this.m.validate()) throw new Error(`generated wasm does not validate:\n${this.m.emitText().slice(0, 4000)}`);
    binaryen.setOptimizeLevel(opts.optimizeLevel ?? 3);
    binaryen.setShrinkLevel(opts.shrinkLevel ?? 1);
    binaryen.setOneCallerInlineMaxSize(opts.oneCallerInlineMaxSize ?? ONE_CALLER_INLINE_MAX_SIZE);
    this.m.optimize();
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

  constructor(private readonly m: binaryen.Module, params: readonly WasmType[] = []) {
    this.params = params.map((type, index) => ({ index, type }));
  }

  get i32() { return this.m.i32; }
  get i64() { return this.m.i64; }
  get f32() { return this.m.f32; }
  get f64() { return this.m.f64; }
  get v128() { return this.m.v128; }
  get f32x4() { return this.m.f32x4; }
  get i32x4() { return this.m.i32x4; }
  get i8x16() { return this.m.i8x16; }
  get i16x8() { return this.m.i16x8; }
  get i64x2() { return this.m.i64x2; }
  get f64x2() { return this.m.f64x2; }

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
      this.set(i, this.m.i32.const(from)),
      this.m.loop(label, this.block([
        ...body,
        this.set(i, this.m.i32.add(this.get(i), this.m.i32.const(step))),
        this.m.br(label, this.m.i32.lt_s(this.get(i), this.m.i32.const(to))),
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
    return base === 0 ? scaled : this.m.i32.add(scaled, this.m.i32.const(base));
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
    return this.m.memory.fill(this.m.i32.const(dest), this.m.i32.const(value), this.m.i32.const(bytes));
  }

  copy(dest: number, src: number, bytes: number): Expr {
    return this.m.memory.copy(this.m.i32.const(dest), this.m.i32.const(src), this.m.i32.const(bytes));
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
