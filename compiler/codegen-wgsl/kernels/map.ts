// The pass behind every kernel whose result element i can be computed on its own (elementwise
// ops, layout ops, gather, sources, the update copies): the kernel supplies the body of
// `fn value(i: u32) -> T` (T = f32 or i32, the result's compute type) and this wraps it in a
// shader that stores every element of the result in its storage dtype (wgsl.ts).
//
//   f32 / i32 results          one invocation per element
//   f16 / bf16, i8 / u8 / bool one invocation per 32-bit word: it computes the word's (up to) two
//                              or four elements, encodes each (f16_bits / bf16_bits round to
//                              nearest even; bytes keep their low 8 bits) and stores the word
//                              whole, keeping the elements past the tensor's end as they were
//                              (they belong to the slot's padding or a neighbour)
//
// A result may share its buffer with an operand of the same shape (in-place): an invocation reads
// the elements it writes, and no other, before writing them.

import { broadcastStrides } from "../../ir/ops/broadcast.ts";
import { numel, sameShape } from "../../ir/types.ts";
import type { BufferRef, WgslPass, WgslTarget } from "../kernel.ts";
import { baseIndex, computeType, encode, flatLaunch, load, pass, perWord, stridedIndex, u32 } from "../wgsl.ts";

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
  const lanesPerWord = perWord(dtype);
  if (lanesPerWord === 1) {
    const launch = flatLaunch(n, target);
    const store = computeType(dtype) === "f32" ? "st_f32" : "st_i32";
    return pass(label, `${program.helpers ?? ""}${value}${launch.header}\n  ${store}(${u32(base)} + t, value(t));\n}\n`, launch.workgroups);
  }
  const words = Math.ceil(n / lanesPerWord);
  const launch = flatLaunch(words, target);
  const bits = 32 / lanesPerWord;
  const mask = (2 ** bits - 1) >>> 0;
  const lanes = Array.from({ length: lanesPerWord }, (_, j) => {
    const e = `t * ${u32(lanesPerWord)} + ${u32(j)}`;
    // encode() gives the element's bits within its width (bytes masked, f16_bits <= 0xffff).
    const element = `${encode(dtype, `value(${e})`)} << ${u32(bits * j)}`;
    return n % lanesPerWord === 0 ? `  word |= ${element};` : `  if (${e} < ${u32(n)}) { word |= ${element}; } else { word |= old & ${u32((mask << (bits * j)) >>> 0)}; }`;
  });
  if (output.offset % 4 !== 0) throw new Error(`webgpu: a packed ${dtype} result at byte offset ${output.offset} does not start a word`);
  const w = `${u32(output.offset / 4)} + t`;
  const code = `${program.helpers ?? ""}${value}${launch.header}
  var word = 0u;
  ${n % lanesPerWord === 0 ? "" : `let old = arena[${w}];`}
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
