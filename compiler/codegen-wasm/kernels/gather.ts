// gather and its transpose scatterAdd. Both view the table as [outer, dim, inner] around `axis`;
// an index picks one row of `inner` elements at each outer position.
//
// An index outside [0, dim) traps (`unreachable`): the interpreter throws on it, and a trap is
// the wasm counterpart — the call fails instead of reading or writing another tensor's memory.
// One unsigned comparison covers both ends, since a negative i32 is a huge unsigned one.

import { attr } from "../../ir/op-def.ts";
import { DTYPE_BYTES, normalizeAxis, numel } from "../../ir/types.ts";
import { splitAtAxis } from "../../ir/ops/operand-checks.ts";
import { signature } from "../../ir/dtypes.ts";
import { withWorkspace, type KernelArgs, type KernelEmitter, type KernelRegistration } from "../kernel.ts";
import type { Expr, FunctionBuilder, Local } from "../module.ts";
import { loadLanes, storeLanes } from "./access.ts";
import { FLOATS, STORED } from "../../ir/dtypes.ts";
import { emitMap } from "./map.ts";
import { Lanes } from "./lanes.ts";
import { constPtr, localPtr, loopNest, stepLoop, type Ptr } from "./reduction-loops.ts";

/**
 * The address of row `index` of a table whose rows start at `table`, `rowBytes` apart, after
 * trapping unless 0 <= index < dim. Returns the check, and the address computed into a local.
 */
function checkedRow(f: FunctionBuilder, indexAddr: Expr, dim: number, table: Ptr, rowBytes: number): { check: Expr[]; row: Local } {
  const index = f.local("i32");
  const row = f.local("i32");
  return {
    check: [
      f.set(index, f.loadI32(indexAddr)),
      f.if(f.i32.ge_u(f.get(index), f.i32.const(dim)), [f.unreachable()]),
      f.set(row, f.i32.add(table.at(), f.i32.mul(f.get(index), f.i32.const(rowBytes)))),
    ],
    row,
  };
}

/** Copies `bytes` bytes: one load/store pair for the sizes that have one, memory.copy otherwise. */
function copyRow(f: FunctionBuilder, dest: Ptr, src: Ptr, bytes: number): Expr {
  switch (bytes) {
    case 1: return f.i32.store8(0, 1, dest.at(), f.i32.load8_u(0, 1, src.at()));
    case 2: return f.i32.store16(0, 2, dest.at(), f.i32.load16_u(0, 2, src.at()));
    case 4: return f.i32.store(0, 4, dest.at(), f.i32.load(0, 4, src.at()));
    case 8: return f.i64.store(0, 8, dest.at(), f.i64.load(0, 8, src.at()));
    case 16: return f.storeV128(dest.at(), f.loadV128(src.at()));
    default: return f.copyAt(dest.at(), src.at(), f.i32.const(bytes));
  }
}

const gather: KernelEmitter = ({ f, node, inputs: [table, indices], output }: KernelArgs): Expr[] => {
  const shape = table.type.shape;
  const axis = normalizeAxis(attr.num(node.attrs, "axis"), shape.length);
  const { outer, len: dim, inner } = splitAtAxis(shape, axis);
  const count = numel(indices.type.shape);
  const rowBytes = inner * DTYPE_BYTES[table.type.dtype];
  if (rowBytes === 0) return [];
  return loopNest(
    f,
    [constPtr(f, table.offset), constPtr(f, indices.offset), constPtr(f, output.offset)],
    [
      { count: outer, strides: [dim * rowBytes, 0, count * rowBytes] },
      { count, strides: [0, 4, rowBytes] },
    ],
    ([rows, index, out]) => {
      const { check, row } = checkedRow(f, index.at(), dim, rows, rowBytes);
      return [...check, copyRow(f, out, localPtr(f, row), rowBytes)];
    },
  );
};

/**
 * table += rows of updates, each added at its index; `inner` elements per row, SIMD. The sums
 * are f32: a 16-bit result is summed in an f32 workspace (its element count times 4 bytes) and
 * rounded once into the output at the end.
 */
const scatterAdd: KernelEmitter = withWorkspace(({ f, node, inputs: [indices, updates], output, workspace }: KernelArgs): Expr[] => {
  const shape = output.type.shape;
  const axis = normalizeAxis(attr.num(node.attrs, "axis"), shape.length);
  const { outer, len: size, inner } = splitAtAxis(shape, axis);
  const count = numel(indices.type.shape);
  const ud = updates.type.dtype;
  const ub = DTYPE_BYTES[ud];
  const half = DTYPE_BYTES[output.type.dtype] === 2;
  if (half && workspace === undefined) throw new Error(`scatterAdd %${node.id} needs a workspace and the plan gave none`);
  const sums = half ? workspace! : output.offset;
  const zero = f.fill(sums, 0, numel(shape) * 4);
  const finish = half ? emitMap(f, [{ offset: sums, type: { dtype: "f32", shape } }], output, (_L, [x]) => x()) : [];
  if (count === 0 || inner === 0) return [zero, ...finish];
  const vectors = Math.floor(inner / 4);
  const addRow = (dest: Ptr, src: Ptr): Expr[] => {
    const add = (L: Lanes, d: Ptr, s: Ptr) => {
      const sum = L.add(loadLanes(L, "f32", d.at()), loadLanes(L, ud, s.at()));
      return [...L.body.splice(0), storeLanes(L, "f32", d.at(), sum)];
    };
    const vector = new Lanes(f, 4);
    const scalar = new Lanes(f, 1);
    const tail: Expr[] = [];
    for (let t = vectors * 4; t < inner; t++) tail.push(...add(scalar, dest.plus(4 * t), src.plus(ub * t)));
    const body = stepLoop(f, vectors, [{ ptr: dest, bytes: 16 }, { ptr: src, bytes: 4 * ub }], ([d, s]) => add(vector, d, s));
    return [...body, ...tail];
  };
  return [
    zero,
    ...loopNest(
      f,
      [constPtr(f, sums), constPtr(f, indices.offset), constPtr(f, updates.offset)],
      [
        { count: outer, strides: [size * inner * 4, 0, count * inner * ub] },
        { count, strides: [0, 4, inner * ub] },
      ],
      ([rows, index, src]) => {
        const { check, row } = checkedRow(f, index.at(), size, rows, inner * 4);
        return [...check, ...addRow(localPtr(f, row), src)];
      },
    ),
    ...finish,
  ];
}, (_node, _inputs, output) => (DTYPE_BYTES[output.dtype] === 2 ? numel(output.shape) * 4 : 0));

export const GATHER_KERNELS: readonly KernelRegistration[] = [
  { op: "gather", dtypes: STORED.map((t) => signature([t, "i32"], t)), kernel: gather },
  { op: "scatterAdd", dtypes: FLOATS.map((t) => signature(["i32", t], t)), kernel: scatterAdd },
];
