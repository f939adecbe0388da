// The worked example of docs/AUTODIFF.md: a two-layer perceptron, small enough to read whole.
import { input, param, matmul, add, relu, softmaxCrossEntropy } from "mlc";

export default function twoLayerMlp() {
  const x = input("x", [4, 3]);
  const y = input("y", [4], "i32");
  const h = relu(add(matmul(x, param("w1", [3, 5])), param("b1", [5], { init: "zeros" })));
  const logits = add(matmul(h, param("w2", [5, 2])), param("b2", [2], { init: "zeros" }));
  return { loss: softmaxCrossEntropy(logits, y) };
}

export const train = { loss: "loss", optimizer: { kind: "sgd", lr: 0.1, momentum: 0.9 } };
