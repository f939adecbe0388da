// Philox-4x32-10 blocks in WebAssembly, for initialising params on the host (init.ts through
// rng.ts philox4x32Blocks). The same arithmetic as rng.ts philox4x32 (the reference), with the
// high product words from one i64 multiply. WebAssembly runs at full speed from its first call,
// while the JavaScript loop waits for V8's optimising compiler, which a compile that has just
// loaded the frontend and the passes keeps busy: initialising a large layer took ten times longer
// inside `mlc build` than on its own.
//
// `blocks(first, high, count, key0, key1)` writes philox4x32([first + b, high, 0, 0], [key0,
// key1]) for b < count as four little-endian u32 per block from byte 0 of its one-page memory
// (at most PHILOX_WASM_MAX_BLOCKS blocks a call). PHILOX_WAT is the module's text; PHILOX_WASM
// its binary, which test/ir/rng-init.test.ts checks is what binaryen assembles from the text.

export const PHILOX_WAT = `(module
  (memory (export "memory") 1)
  (func (export "blocks") (param $first i32) (param $high i32) (param $count i32) (param $k0 i32) (param $k1 i32)
    (local $b i32) (local $c0 i32) (local $c1 i32) (local $c2 i32) (local $c3 i32) (local $ka i32) (local $kb i32)
    (local $round i32) (local $p0 i64) (local $p1 i64) (local $at i32)
    (block $done
      (loop $block
        (br_if $done (i32.ge_u (local.get $b) (local.get $count)))
        (local.set $c0 (i32.add (local.get $first) (local.get $b)))
        (local.set $c1 (local.get $high))
        (local.set $c2 (i32.const 0))
        (local.set $c3 (i32.const 0))
        (local.set $ka (local.get $k0))
        (local.set $kb (local.get $k1))
        (local.set $round (i32.const 0))
        (loop $rounds
          (local.set $p0 (i64.mul (i64.const 0xd2511f53) (i64.extend_i32_u (local.get $c0))))
          (local.set $p1 (i64.mul (i64.const 0xcd9e8d57) (i64.extend_i32_u (local.get $c2))))
          (local.set $c0 (i32.xor (i32.xor (i32.wrap_i64 (i64.shr_u (local.get $p1) (i64.const 32))) (local.get $c1)) (local.get $ka)))
          (local.set $c2 (i32.xor (i32.xor (i32.wrap_i64 (i64.shr_u (local.get $p0) (i64.const 32))) (local.get $c3)) (local.get $kb)))
          (local.set $c1 (i32.wrap_i64 (local.get $p1)))
          (local.set $c3 (i32.wrap_i64 (local.get $p0)))
          (local.set $ka (i32.add (local.get $ka) (i32.const 0x9e3779b9)))
          (local.set $kb (i32.add (local.get $kb) (i32.const 0xbb67ae85)))
          (local.set $round (i32.add (local.get $round) (i32.const 1)))
          (br_if $rounds (i32.lt_u (local.get $round) (i32.const 10))))
        (local.set $at (i32.shl (local.get $b) (i32.const 4)))
        (i32.store offset=0 (local.get $at) (local.get $c0))
        (i32.store offset=4 (local.get $at) (local.get $c1))
        (i32.store offset=8 (local.get $at) (local.get $c2))
        (i32.store offset=12 (local.get $at) (local.get $c3))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $block)))))`;

export const PHILOX_WASM_BASE64 = "AGFzbQEAAAABCQFgBX9/f39/AAMCAQAFAwEAAQcTAgZtZW1vcnkCAAZibG9ja3MAAArHAQHEAQIJfwJ+AkADQCAFIAJPDQEgACAFaiEGIAEhB0EAIQhBACEJIAMhCiAEIQtBACEMA0BC077Ekg0gBq1+IQ5C15r67AwgCK1+IQ8gD0IgiKcgB3MgCnMhBiAOQiCIpyAJcyALcyEIIA+nIQcgDqchCSAKQbnz3fF5aiEKIAtBhd2e23tqIQsgDEEBaiEMIAxBCkkNAAsgBUEEdCENIA0gBjYCACANIAc2AgQgDSAINgIIIA0gCTYCDCAFQQFqIQUMAAsACws=";

/** Blocks one call writes at most: its memory is one 64 KiB page of 16-byte blocks. */
export const PHILOX_WASM_MAX_BLOCKS = 4096;

interface PhiloxExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  readonly blocks: (first: number, high: number, count: number, key0: number, key1: number) => void;
}

/** The part of the WebAssembly global used here (the project's type libraries do not declare it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}

let instance: PhiloxExports | undefined;

/** The instantiated module (compiled on first use; a few hundred bytes, synchronously). */
export function philoxWasm(): PhiloxExports {
  if (!instance) {
    const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    const bytes = Uint8Array.from(atob(PHILOX_WASM_BASE64), (c) => c.charCodeAt(0));
    instance = new wasm.Instance(new wasm.Module(bytes)).exports as PhiloxExports;
  }
  return instance;
}
