// Polynomial coefficients of the f32 transcendental functions both backends' kernels evaluate
// (codegen-wasm/kernels/math.ts, codegen-wgsl/kernels/math.ts), so the two compute the same
// approximations. Fitted by codegen-wasm/kernels/math-fit.ts (weighted Remez);
// test/codegen-wasm/wasm-math.test.ts re-derives them and measures every function against float64.

export const EXPM1_P = [0.49999997, 0.16666539, 0.0416672193, 0.00836717337, 0.00138823967];
export const LOG1P_R = [0.666667759, 0.39977476, 0.298738033];
export const NORMAL_CENTRAL = [0.398942292, -0.0664903149, 0.00997307803, -0.00118578493, 0.000112952177, -0.00000746289516];
export const MILLS_NEAR = [0.464306921, -0.187462837, 0.0681234598, -0.0227497742, 0.00707820058, -0.00206712983, 0.000574547448, -0.000164671277, 0.0000410296634];
export const MILLS_NEAR_CENTER = 1.75;
export const MILLS_FAR = [0.946609497, -0.369448364, -0.367815733, 0.937729478, -0.787958801, -0.672487438, 3.54798365, -4.74971867, -3.15825343];
export const MILLS_FAR_CENTER = 0.25;
