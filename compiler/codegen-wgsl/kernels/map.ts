// The pass behind every kernel whose result element i can be computed on its own (elementwise
// ops, layout ops, gather, sources, the update copies): the kernel supplies the body of
// `fn value(i: u32) -> T` (T = f32 or i32, the result's compute type) and this wraps it in a
// shader that stores every element of the result.
//
//   f32 / i32 results    one invocation per element
//   i8 / u8 / bool       one invocation per 32-bit word: it computes the word's (up to) four
//                        elements and stores the word whole, keeping the bytes past the tensor's
//                        end as they were (they belong to the slot's padding or a neighbour)
//
// A result may share its buffer with an operand of the same shape (in-place): an invocation reads
// the elements it writes, and no other, before writing them.

import { broadcastStrides } from "../../ir/ops/broadcast.ts";
import { numel, sameShape } from "../../ir/types.ts";
import type { BufferRef, WgslPass, WgslTarget } from "../kernel.ts";
import { baseIndex, computeType, elementBytes, flatLaunch, load, pass, stridedIndex, u32 } from "../wgsl.ts";

export interface ElementProgram {
  /** WGSL declarations the body uses (math functions, constants). */
  readonly helpers?: string;
  /** Statements of `fn value(i: u32) -> T`, ending in `return ...;`. */
  readonly body: string;
}

/** The pass computing every element of `output` through `program`. */
export function elementMap(label: string, output: BufferRef, program: ElementProgram, target: WgslTarget): WgslPass {
  const { dtype } = output.type;
  const n = numel(output.type.shape);
  const value = `fn value(i: u32) -> ${computeType(dtype)} {\n${program.body}\n}\n`;
  const base = baseIndex(output.offset, dtype);
  if (elementBytes(dtype) === 4) {
    const launch = flatLaunch(n, target);
    const store = dtype === "f32" ? "st_f32" : "st_i32";
    return pass(label, `${program.helpers ?? ""}${value}${launch.header}\n  ${store}(${u32(base)} + t, value(t));\n}\n`, launch.workgroups);
  }
  const words = Math.ceil(n / 4);
  const launch = flatLaunch(words, target);
  const lanes = [0, 1, 2, 3].map((j) => {
    const e = `t * 4u + ${j}u`;
    const byte = `(u32(value(${e})) & 0xffu) << ${8 * j}u`;
    return n % 4 === 0 ? `  word |= ${byte};` : `  if (${e} < ${u32(n)}) { word |= ${byte}; } else { word |= old & ${u32((0xff << (8 * j)) >>> 0)}; }`;
  });
  const w = `${u32(base / 4)} + t`;
  const code = `${program.helpers ?? ""}${value}${launch.header}
  var word = 0u;
  ${n % 4 === 0 ? "" : `let old = arena[${w}];`}
${lanes.join("\n")}
  arena[${w}] = word;
}
`;
  return pass(label, code, launch.workgroups);
}

/** WGSL reading element `i` of `outShape` from `operand`, broadcast to that shape. */
export function broadcastRead(operand: BufferRef, outShape: readonly number[], i = "i"): string {
  const { shape, dtype } = operand.type;
  const index = sameShape(shape, outShape) ? i : stridedIndex(i, outShape, broadcastStrides(shape, outShape));
  return load(operand.offset, dtype, index);
}

/** WGSL reading `operand` at the flat index `offset + sum_d coord_d(i) * strides[d]` over `outShape`. */
export function stridedRead(operand: BufferRef, outShape: readonly number[], strides: readonly number[], i = "i", offset = 0): string {
  return load(operand.offset, operand.type.dtype, stridedIndex(i, outShape, strides, offset));
}
