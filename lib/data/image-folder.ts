/**
 * Image folders as torchvision's ImageFolder reads them, one per split:
 * <folder>/<split>/<class>/<image>.png|.jpg|.jpeg. Classes are the subfolder names in
 * sorted order (label = index); images are read in sorted file order. PNG and JPEG are
 * decoded in JavaScript (pngjs, jpeg-js); grayscale PNGs stay one channel.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { InputError } from '../errors.ts';
import type { DatasetReader, RawBatch, RawImage, Split } from './source.ts';

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);

function sortedNames(names: string[]): string[] {
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)); // code-point order, as Python's sorted()
}

export function looksLikeImageFolder(folder: string, split: Split): boolean {
  const dir = join(folder, split);
  return existsSync(dir) && statSync(dir).isDirectory() && readdirSync(dir, { withFileTypes: true }).some((e) => e.isDirectory());
}

/** Decodes one PNG or JPEG file into 8-bit pixels, (H, W, C) with C = 1, 2, 3 or 4. */
export async function decodeImage(file: string): Promise<RawImage> {
  const bytes = await readFile(file);
  const ext = extname(file).toLowerCase();
  try {
    if (ext === '.png') {
      const png = PNG.sync.read(bytes);
      const gray = png.colorType === 0 || png.colorType === 4;
      const channels = (gray ? 1 : 3) + (png.alpha ? 1 : 0);
      const rgba = png.data;
      const pixels = new Uint8Array(png.width * png.height * channels);
      for (let p = 0, q = 0; p < png.width * png.height; p++) {
        pixels[q++] = rgba[4 * p];
        if (!gray) {
          pixels[q++] = rgba[4 * p + 1];
          pixels[q++] = rgba[4 * p + 2];
        }
        if (png.alpha) pixels[q++] = rgba[4 * p + 3];
      }
      return { pixels, shape: { height: png.height, width: png.width, channels, planar: false }, file };
    }
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false });
    return { pixels: img.data, shape: { height: img.height, width: img.width, channels: 3, planar: false }, file };
  } catch (err) {
    throw new InputError(file, `cannot be decoded as ${ext === '.png' ? 'PNG' : 'JPEG'} (${(err as Error).message})`);
  }
}

export async function openImageFolder(folder: string, split: Split): Promise<DatasetReader> {
  const root = join(folder, split);
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new InputError(folder, `has no '${split}' subfolder of class folders`);
  const classes = sortedNames(readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name));
  if (classes.length === 0) throw new InputError(root, 'has no class subfolders');
  const items: Array<{ file: string; label: number }> = [];
  classes.forEach((name, label) => {
    const dir = join(root, name);
    for (const f of sortedNames(readdirSync(dir)))
      if (IMAGE_EXTENSIONS.has(extname(f).toLowerCase())) items.push({ file: join(dir, f), label });
  });
  if (items.length === 0) throw new InputError(root, 'has no .png, .jpg or .jpeg images in its class folders');
  return {
    format: 'image-folder', folder, split, size: items.length, classes, numClasses: classes.length, shape: null,
    files: items.map((i) => i.file),
    async *read(batchSize: number, start: number, limit: number): AsyncGenerator<RawBatch> {
      const end = Math.min(items.length, start + limit);
      for (let i = start; i < end; i += batchSize) {
        const slice = items.slice(i, Math.min(end, i + batchSize));
        const images = await Promise.all(slice.map((it) => decodeImage(it.file)));
        yield { count: slice.length, labels: Int32Array.from(slice, (it) => it.label), images };
      }
    },
  };
}
