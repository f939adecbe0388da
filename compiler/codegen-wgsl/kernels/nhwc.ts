// Index helpers of the NHWC kernels (conv.ts, pool.ts): i32 literals and the unravelling of a
// result element's flat index into its four coordinates.

import { u32 } from "../wgsl.ts";

/** An i32 literal (window arithmetic runs in i32: positions left of the image are negative). */
export const int = (v: number) => `${v}i`;

/** WGSL `let`s binding the i32 coordinates `names` (N, H, W, C order) of flat element `i` of `shape`. */
export function unravel(shape: readonly number[], names: readonly string[]): string {
  const [, h, w, c] = shape;
  return `  let ${names[3]} = i32(i % ${u32(c)});
  let ${names[2]} = i32((i / ${u32(c)}) % ${u32(w)});
  let ${names[1]} = i32((i / ${u32(c * w)}) % ${u32(h)});
  let ${names[0]} = i32(i / ${u32(c * w * h)});`;
}
