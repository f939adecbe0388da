// The graph a model builds while it is evaluated: a GraphBuilder plus the frontend's own
// bookkeeping (where each name was declared, shared scalar constants, the dropout step counter,
// which state tensors already have an update).
//
// Errors here are ShapeErrors or plain messages; the builtins attach the call's location.

import { GraphBuilder } from "../ir/builder.ts";
import type { SourceLoc } from "../ir/graph.ts";
import type { AttrValue } from "../ir/op-def.ts";
import { formatType, ShapeError, type DType, type TensorType } from "../ir/types.ts";
import { bytesText, checkTensorSize, DEFAULT_LIMITS, LimitError, raiseHint, tensorBytes, type EvalLimits } from "./limits.ts";
import { TensorValue } from "./values.ts";
import { CODES } from "./diagnostics.ts";

/** Name of the i32 scalar state that counts steps for dropout's counter-based RNG. */
export const RNG_STEP = "rng.step";

export class GraphContext {
  readonly builder: GraphBuilder;
  /** Where each input/param name was declared, for duplicate-name diagnostics. */
  private readonly declared = new Map<string, SourceLoc | undefined>();
  /** One `const` node per (value, dtype). */
  private readonly constants = new Map<string, TensorValue>();
  private rngStep: TensorValue | undefined;
  private dropouts = 0;
  /** Bytes of the inputs and params declared so far, against `limits.maxDeclaredBytes`. */
  private declaredBytes = 0;

  constructor(
    name: string,
    readonly limits: EvalLimits = DEFAULT_LIMITS,
  ) {
    this.builder = new GraphBuilder(name);
  }

  /** Tensor limits for an input or param about to be declared (LimitError names which). */
  private checkDeclared(what: string, type: TensorType): void {
    checkTensorSize(type, this.limits, what);
    const total = this.declaredBytes + tensorBytes(type);
    if (total > this.limits.maxDeclaredBytes) {
      throw new LimitError(
        CODES.tensorLimit,
        `${what} brings the inputs and params to ${bytesText(total)}, more than the limit of ${bytesText(this.limits.maxDeclaredBytes)} (wasm32 addresses 4 GiB in all; ${raiseHint("maxDeclaredBytes", this.limits.maxDeclaredBytes)})`,
      );
    }
    this.declaredBytes = total;
  }

  isDeclared(name: string): boolean {
    return this.declared.has(name);
  }

  /** Where input/param `name` was declared (undefined for compiler-made state such as rng.step). */
  declaredAt(name: string): SourceLoc | undefined {
    return this.declared.get(name);
  }

  input(name: string, type: TensorType, loc: SourceLoc): TensorValue {
    this.checkDeclared(`input '${name}'`, type);
    this.declared.set(name, loc);
    this.builder.addInput({ name, type, loc });
    return new TensorValue(name, type);
  }

  param(name: string, type: TensorType, init: string, trainable: boolean, loc: SourceLoc | undefined): TensorValue {
    this.checkDeclared(`${trainable ? "param" : "state"} '${name}'`, type);
    this.declared.set(name, loc);
    this.builder.addParam({ name, type, init, trainable, ...(loc ? { loc } : {}) });
    return new TensorValue(name, type);
  }

  isState(value: TensorValue): boolean {
    return this.builder.params.some((p) => p.name === value.name && !p.trainable);
  }

  isTrainableParam(value: TensorValue): boolean {
    return this.builder.params.some((p) => p.name === value.name && p.trainable);
  }

  /** Appends a node; a ShapeError names the op and its operand types. */
  op(op: string, inputs: readonly TensorValue[], attrs: Record<string, AttrValue | undefined>, loc?: SourceLoc): TensorValue {
    try {
      const id = this.builder.op(op, inputs.map((t) => t.name), attrs, loc);
      const type = this.builder.typeOf(id);
      checkTensorSize(type, this.limits, `${op}: the result`);
      return new TensorValue(id, type);
    } catch (e) {
      if (!(e instanceof ShapeError)) throw e;
      const operands = inputs.map((t) => formatType(t.type)).join(", ");
      // Op rules usually start their message with the op's name already.
      const text = e.message.startsWith(`${op}:`) ? e.message.slice(op.length + 1).trim() : e.message;
      throw new ShapeError(`${op}(${operands}): ${text}`);
    }
  }

  /** A scalar constant, shared by every use of the same (value, dtype) in the graph. */
  constant(value: number, dtype: DType): TensorValue {
    const key = `${dtype}:${Object.is(value, -0) ? "-0" : String(value)}`;
    let c = this.constants.get(key);
    if (!c) {
      c = this.op("const", [], { value, dtype, shape: [] });
      this.constants.set(key, c);
    }
    return c;
  }

  /** Records `update %param = %value`; each state tensor may be updated once per step. */
  update(param: TensorValue, value: TensorValue): void {
    if (this.builder.updates.some((u) => u.param === param.name)) {
      throw new Error(`state '${param.name}' is updated twice in one step`);
    }
    this.builder.update(param.name, value.name);
  }

  hasDropout(): boolean {
    return this.rngStep !== undefined;
  }

  /**
   * The dropout step counter and the next dropout's seed. The first dropout declares the state
   * `rng.step: i32[]` and its end-of-step increment, so every step draws a fresh mask.
   */
  nextDropout(): { step: TensorValue; seed: number } {
    if (!this.rngStep) {
      this.rngStep = this.param(RNG_STEP, { dtype: "i32", shape: [] }, "zeros", false, undefined);
      this.update(this.rngStep, this.op("add", [this.rngStep, this.constant(1, "i32")], {}));
    }
    return { step: this.rngStep, seed: this.dropouts++ };
  }
}
