// Environments of the partial evaluator.
//
// Bindings are keyed by the TypeScript checker's symbol of the declaration, not by name: the
// checker has already resolved every identifier to its declaration (shadowing, imports, hoisting),
// so the evaluator only needs to find the activation that holds that declaration's current value.
// A frame is created per block, per function call and per loop iteration (so closures made in a
// loop body see that iteration's bindings, as in JavaScript); `let` reassignment rebinds the value
// in its frame, which is how a `let` becomes a chain of SSA values in the IR.

import type { ts } from "ts-morph";
import type { Value } from "./values.ts";

export interface Binding {
  value: Value;
  readonly mutable: boolean;
}

export class Env {
  private readonly vars = new Map<ts.Symbol, Binding>();

  constructor(readonly parent?: Env) {}

  /** The innermost binding of `symbol`, or undefined when no active frame declares it. */
  find(symbol: ts.Symbol): Binding | undefined {
    for (let env: Env | undefined = this; env; env = env.parent) {
      const b = env.vars.get(symbol);
      if (b) return b;
    }
    return undefined;
  }

  declare(symbol: ts.Symbol, value: Value, mutable: boolean): void {
    this.vars.set(symbol, { value, mutable });
  }

  /** A frame holding copies of this frame's bindings (a fresh `for (let ...)` iteration). */
  copyFrame(): Env {
    const copy = new Env(this.parent);
    for (const [symbol, b] of this.vars) copy.vars.set(symbol, { ...b });
    return copy;
  }
}
