// A two-hidden-layer perceptron for MNIST digits (28x28 pixels flattened to 784).
import { input, param, matmul, add, relu, softmaxCrossEntropy, type Tensor } from "mlc";

export const config = { batch: 64 }; // compile-time constants; `--set batch=128` overrides

function dense(name: string, x: Tensor, units: number): Tensor {
  const w = param(`${name}.w`, [x.shape[1], units], { init: "he_normal" });
  const b = param(`${name}.b`, [units], { init: "zeros" });
  return add(matmul(x, w), b);
}

export default function mnistMlp() {
  const x = input("x", [config.batch, 784]);
  const y = input("y", [config.batch], "i32");
  let h = x;
  for (const units of [256, 128]) h = relu(dense(`fc${units}`, h, units));
  const logits = dense("out", h, 10);
  return { logits, loss: softmaxCrossEntropy(logits, y) };
}

export const train = { loss: "loss", optimizer: { kind: "adam", lr: 1e-3 } };
