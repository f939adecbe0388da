// A small convolutional net for 28x28 grayscale images, NHWC: two conv/pool stages and a
// classifier. Written with method chaining to show both DSL styles.
import { input, param, conv2d, maxPool2d, softmaxCrossEntropy, type Tensor } from "mlc";

export const config = { batch: 32, classes: 10, width: 8 };

function convBlock(name: string, x: Tensor, channels: number): Tensor {
  const w = param(`${name}.w`, [3, 3, x.shape[3], channels], { init: "he_normal" });
  const b = param(`${name}.b`, [channels], { init: "zeros" });
  return maxPool2d(conv2d(x, w, { stride: 1, padding: "same" }).add(b).relu(), { size: 2 });
}

export default function cnn() {
  const images = input("images", [config.batch, 28, 28, 1]);
  const labels = input("labels", [config.batch], "i32");
  const c1 = convBlock("conv1", images, config.width);       // [B, 14, 14, width]
  const c2 = convBlock("conv2", c1, config.width * 2);       // [B, 7, 7, 2*width]
  const [n, h, w, c] = c2.shape;
  const flat = c2.reshape([n, h * w * c]);
  const wOut = param("fc.w", [h * w * c, config.classes], { init: "glorot_uniform" });
  const bOut = param("fc.b", [config.classes], { init: "zeros" });
  const logits = flat.matmul(wOut).add(bOut);
  return { logits, loss: softmaxCrossEntropy(logits, labels) };
}

export const train = { loss: "loss", optimizer: { kind: "sgd", lr: 0.05, momentum: 0.9 } };
