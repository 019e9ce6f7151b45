/**
 * `conv-filters`: the ConvolutionalNetworks notebook's aside, "image
 * processing via convolutions". Two hand-made 3×3 filters, a grayscale
 * conversion and a horizontal-edge detector (on the blue channel), applied
 * by `convForwardNaive` to two dataset images (a dog and a cat, upscaled; the
 * course uses a puppy and a kitten), shown as images.
 *
 * @module
 */

import type { Dataset } from "../../../datasets/dataset.ts";
import { loadDataset } from "../../../datasets/registry.ts";
import { convForwardNaive } from "../../../layers/conv_naive.ts";
import { Tensor } from "../../../layers/tensor.ts";
import type { Report, ReportSection } from "../../../reports/html.ts";
import { imagesSection, type SectionImage } from "../../../reports/run_report.ts";
import { configOf, type Experiment, type ExperimentOptions } from "./common.ts";

/** Upscaling factor of the inputs (32 → 128 pixels for CIFAR-10). */
const UPSCALE = 4;
/** Display width of each image, CSS px. */
const SHOWN = 256;

/**
 * Bilinear upscaling of `(N, C, H, W)` images by a whole factor (pixel
 * centres aligned, edges clamped), as the notebook's `imresize` does.
 */
export function upscaleBilinear(x: Tensor, factor: number): Tensor {
  const [n, c, h, w] = x.shape;
  const H = h * factor, W = w * factor;
  const out = new Float64Array(n * c * H * W);
  const src = (v: number, size: number) => Math.min(Math.max((v + 0.5) / factor - 0.5, 0), size - 1);
  for (let p = 0; p < n * c; p++) {
    const base = p * h * w;
    for (let y = 0; y < H; y++) {
      const sy = src(y, h), y0 = Math.floor(sy), y1 = Math.min(y0 + 1, h - 1), fy = sy - y0;
      for (let xx = 0; xx < W; xx++) {
        const sx = src(xx, w), x0 = Math.floor(sx), x1 = Math.min(x0 + 1, w - 1), fx = sx - x0;
        const top = x.data[base + y0 * w + x0] * (1 - fx) + x.data[base + y0 * w + x1] * fx;
        const bottom = x.data[base + y1 * w + x0] * (1 - fx) + x.data[base + y1 * w + x1] * fx;
        out[(p * H + y) * W + xx] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return new Tensor(out, [n, c, H, W]);
}

/**
 * The notebook's two filters for `channels` input channels (3: RGB): filter 0
 * converts to grayscale (0.3 R + 0.6 G + 0.1 B at the centre tap), filter 1
 * detects horizontal edges in the blue channel (`[[1, 2, 1], [0, 0, 0],
 * [-1, -2, -1]]`); the biases are 0 and 128. With one channel (grey images)
 * filter 0 is the identity and filter 1 acts on that channel.
 */
export function notebookFilters(channels: number): { w: Tensor; b: Tensor } {
  const w = new Float64Array(2 * channels * 9);
  const grey = channels === 3 ? [0.3, 0.6, 0.1] : Array.from({ length: channels }, () => 1 / channels);
  for (let c = 0; c < channels; c++) w[c * 9 + 4] = grey[c];
  const edge = [1, 2, 1, 0, 0, 0, -1, -2, -1];
  const target = channels === 3 ? 2 : 0;
  for (let k = 0; k < 9; k++) w[(channels + target) * 9 + k] = edge[k];
  return { w: new Tensor(w, [2, channels, 3, 3]), b: new Tensor(Float64Array.from([0, 128]), [2]) };
}

/** The first training image of each of two classes: dog and cat when the dataset has them, else its first two classes. */
export function pickImages(data: Dataset): { index: number; className: string }[] {
  const wanted = ["dog", "cat"].map((name) => data.classNames.indexOf(name));
  const classes = wanted.every((i) => i >= 0) ? wanted : [0, 1];
  return classes.map((label) => {
    const index = data.yTrain.indexOf(label);
    if (index < 0) {
      throw new Error(
        `conv-filters: no training image of class "${data.classNames[label]}" among the first ${data.yTrain.length}`,
      );
    }
    return { index, className: data.classNames[label] };
  });
}

async function loadImages(options: ExperimentOptions): Promise<Dataset> {
  const [kind] = options.dataset.split(":");
  // Raw pixels (no mean subtraction), only as many images as it takes to find the two classes.
  const numTraining = kind === "sample" ? 1000 : 2000;
  return await loadDataset(options.dataset, {
    numTraining,
    numValidation: 0,
    numTest: 0,
    subtractMean: false,
    dtype: "float64",
  });
}

/** The convolution aside: hand-made filters on two dataset images. */
export const convFiltersExperiment: Experiment = {
  name: "conv-filters",
  title: "Image processing via convolutions",
  summary: "the notebook's aside: a grayscale and a horizontal-edge filter applied by convForwardNaive to two images",
  quick: "the same (it takes well under a second).",
  trains: false,
  plan() {
    return Promise.resolve([]);
  },
  async report(outcome) {
    const data = await loadImages(outcome.options);
    const picks = pickImages(data);
    const [, c, h, w] = data.xTrain.shape;
    const per = c * h * w;
    const x = new Tensor(new Float64Array(picks.length * per), [picks.length, c, h, w]);
    picks.forEach((p, i) => x.data.set(data.xTrain.data.subarray(p.index * per, (p.index + 1) * per), i * per));
    const big = upscaleBilinear(x, UPSCALE);
    const { w: filters, b } = notebookFilters(c);
    const { out } = convForwardNaive(big, filters, b, { stride: 1, pad: 1 });
    const [, , H, W] = big.shape;
    const plane = (t: Tensor, i: number, f: number, channels: number) => ({
      data: t.data.subarray((i * channels + f) * H * W, (i * channels + f + 1) * H * W),
      shape: [H, W],
    });
    const images: SectionImage[] = picks.flatMap((p, i) => [
      {
        image: { data: big.data.subarray(i * c * H * W, (i + 1) * c * H * W), shape: c === 1 ? [H, W] : [c, H, W] },
        layout: "CHW" as const,
        caption: `Input: ${p.className} (training image ${p.index}), ${w}×${h} upscaled to ${W}×${H}`,
        alt: `Training image ${p.index}, a ${p.className}, upscaled ${UPSCALE}× to ${W}×${H}`,
      },
      { image: plane(out, i, 0, 2), normalize: true, caption: `Filter 0 (grayscale) on the ${p.className}` },
      {
        image: plane(out, i, 1, 2),
        normalize: true,
        caption: `Filter 1 (horizontal edges${c === 3 ? ", blue channel" : ""}) on the ${p.className}`,
      },
    ]);
    const sections: ReportSection[] = [
      await imagesSection("Inputs and filter responses", images, {
        text:
          "As the notebook's figure: each row is one image, then its two filter responses. Each response is scaled " +
          "to 0–255 by its own minimum and maximum (the notebook's imshow_no_ax(normalize=True)).",
        columns: 3,
        width: SHOWN,
      }),
    ];
    const weights = (f: number, k: number) =>
      Array.from(
        { length: 3 },
        (_, r) => Array.from(filters.data.subarray(((f * c + k) * 3 + r) * 3, ((f * c + k) * 3 + r + 1) * 3)).join(" "),
      ).join(" / ");
    sections.push({
      heading: "The filters",
      text:
        `w has shape (2, ${c}, 3, 3), b = [0, 128]; stride 1, pad 1 (so responses keep the input size). Rows of each 3×3 kernel are separated by "/".`,
      table: {
        columns: ["Filter", "Channel", "Kernel", { label: "Bias", numeric: true }],
        rows: [0, 1].flatMap((f) =>
          Array.from({ length: c }, (_, k) => [
            f === 0 ? "0: grayscale" : "1: horizontal edges",
            c === 3 ? ["red", "green", "blue"][k] : String(k),
            weights(f, k),
            k === 0 ? b.data[f] : null,
          ])
        ),
      },
    });
    const report: Report = {
      title: "Image processing via convolutions",
      description:
        "The course's ConvolutionalNetworks notebook, aside: convolution as image processing. Two 3×3 filters " +
        "set by hand, one converting to grayscale and one detecting horizontal edges in the blue channel, are applied " +
        `by convForwardNaive to two training images of ${data.name}, upscaled ${UPSCALE}× (bilinear) as the notebook ` +
        "resizes its puppy and kitten.",
      config: configOf(outcome, {
        images: picks.map((p) => `${p.className} #${p.index}`).join(", "),
        upscale: UPSCALE,
      }),
      sections,
    };
    return {
      report,
      keyNumbers: {
        images: picks.map((p) => `${p.className} #${p.index}`).join(", "),
        responseShape: `(${out.shape.join(", ")})`,
      },
    };
  },
};
