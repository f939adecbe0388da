// The Fashion-MNIST CNN part of `npm run bench -- quant` (bench/quant.ts): examples/cnn trained in
// f32 through its own training bundle on Debian's dataset-fashion-mnist (60,000 training images;
// SGD with momentum as the model declares, batch 32, EPOCHS epochs), then the same comparison as
// the MLP's: f32 and int8 bundles (each observer; both convolutions convInteger, the classifier
// matmulInteger) scored on the 10,000 test images, beside PyTorch's eager PTQ of the same weights
// (test/oracle/ptq_cnn.py), codebook4 (convolutions and classifier), weights-file sizes and
// forward latency. A helper module (no `run`).

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Digits } from "../examples/mnist-mlp/data.ts";
import { PIXELS } from "../examples/mnist-mlp/data.ts";
import { ptqMarkdown, ptqRun, trainF32, type Classifier, type PtqRun } from "./quant.ts";
import { loadFashion as fashion } from "./fashion-mnist.ts";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const EPOCHS = Number(process.env.MLC_BENCH_QUANT_CNN_EPOCHS ?? 3);
const CALIBRATION = 1000;
const CNN: Classifier = { model: join(ROOT, "examples/cnn/model.ts"), x: "images", y: "labels", batch: 32 };



export async function measureCnn(tmp: string): Promise<{ markdown: string[]; results: PtqRun & { epochs: number; calibration: number } }> {
  const train = fashion("train");
  const test = fashion("t10k");
  const weights = await trainF32(train, tmp, EPOCHS, CNN);
  const r = await ptqRun({ model: CNN.model, input: "images", weights, calibration: train.x.subarray(0, CALIBRATION * PIXELS), test, script: "ptq_cnn.py", tmp, codebookSkip: ["conv1.w", "conv2.w"] });
  const markdown = [
    `Fashion-MNIST CNN (examples/cnn: two conv3x3-ReLU-maxpool stages of 8 and 16 channels, a 784-10 classifier) trained in f32 for ${EPOCHS} epochs ` +
      `(SGD momentum 0.9, lr 0.05, batch ${CNN.batch}) on the 60,000 training images of dataset-fashion-mnist; tested on its 10,000 test images. ` +
      `int8: both convolutions \`convInteger\` (u8 activations per tensor with the padding at the zero point, i8 weights per output channel) and the classifier ` +
      `\`matmulInteger\`, calibrated on the first ${CALIBRATION} training images; PyTorch: the same eager static PTQ as above with Conv2d+ReLU fused. ` +
      `codebook4: both convolutions (\`codebookConv2d\`) and the classifier (\`codebookMatmul\`) k-means-quantized, 16 centroids per weight, 4-bit indices; ` +
      `then with the convolutions kept f32 (\`--quantize-skip conv1.w,conv2.w\`). The latency table's codebook4 is the first (every weight).`,
    "",
    ...ptqMarkdown(r, test, "test images"),
  ];
  return { markdown, results: { ...r, epochs: EPOCHS, calibration: CALIBRATION } };
}
