//! 3×3 convolutions by Winograd's F(4×4, 3×3): each 4×4 block of output pixels is computed from
//! its 6×6 input pixels as `Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`, 36 products per input and output
//! channel where the direct convolution needs 144 (Lavin and Gray, "Fast Algorithms for
//! Convolutional Neural Networks", 2016; the interpolation points 0, ±1, ±2 and ∞ that ncnn and
//! NNPACK use).
//!
//! The weights are transformed once, when a network is packed ([`pack`]). A layer is then run a
//! row of tiles at a time: the inputs of up to [`TILES`] tiles are transformed together, the 36
//! points are 36 small matrix products over the input channels (the direct kernel's register
//! blocking, tiles in place of pixels), and each tile's products are transformed back with the
//! bias and the PReLU applied before the single store. Tiles that run past the band's last row
//! or column are read through a zero-padded copy and stored in part.

use super::{Conv, Lanes, PIXELS, VECTORS, accumulate};

/// Output pixels on a side of a tile.
pub(crate) const OUT: usize = 4;
/// Input pixels on a side of a tile.
const IN: usize = OUT + 2;
/// Points of the transformed tile.
pub(crate) const POINTS: usize = IN * IN;
/// Tiles transformed together: the products of [`PIXELS`] tiles at a time reuse each weight
/// vector, and the transformed inputs of this many stay in the first-level cache.
const TILES: usize = 4 * PIXELS;

/// `G`, the weights' transform.
const G: [[f64; 3]; IN] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// A layer's 3×3 weights (`[outputs][inputs][3][3]`, as burn and PyTorch hold them) as
/// [`conv_rows`] reads them: `G g Gᵀ` for every pair of channels, `[block][point][input][channel
/// of the block]`, the outputs padded to whole blocks with zeros.
pub fn pack(weight: &[f32], inputs: usize, outputs: usize, block: usize) -> Vec<f32> {
    assert_eq!(weight.len(), outputs * inputs * 9, "3×3 weights for every pair of channels");
    let blocks = outputs.div_ceil(block);
    let mut packed = vec![0.0; blocks * POINTS * inputs * block];
    for output in 0..outputs {
        let (b, lane) = (output / block, output % block);
        for input in 0..inputs {
            let g = &weight[(output * inputs + input) * 9..][..9];
            // G g, then (G g) Gᵀ, in double precision: the transform's fractions are not exact
            // in f32, and its rounding would add to every product's.
            let gg: [[f64; 3]; IN] = std::array::from_fn(|i| {
                std::array::from_fn(|k| (0..3).map(|j| G[i][j] * f64::from(g[j * 3 + k])).sum())
            });
            for i in 0..IN {
                for j in 0..IN {
                    let value: f64 = (0..3).map(|k| gg[i][k] * G[j][k]).sum();
                    packed[((b * POINTS + i * IN + j) * inputs + input) * block + lane] = value as f32;
                }
            }
        }
    }
    packed
}

/// `Bᵀ d` along one line of the input tile.
#[inline(always)]
fn input_line<L: Lanes>(d: [L; IN]) -> [L; IN] {
    let (two, four, five) = (L::splat(2.0), L::splat(4.0), L::splat(5.0));
    let minus = |x: L| L::splat(0.0).sub(x);
    [
        d[4].mul_add(d[0], four).sub(d[2].mul(five)),
        d[3].add(d[4]).sub(d[1].add(d[2]).mul(four)),
        d[4].sub(d[3]).mul_add(d[1].sub(d[2]), four),
        d[4].sub(d[2]).mul_add(d[3].sub(d[1]), two),
        d[4].sub(d[2]).mul_add(minus(d[3].sub(d[1])), two),
        d[5].mul_add(d[1], four).sub(d[3].mul(five)),
    ]
}

/// `Aᵀ m` along one line of the products.
#[inline(always)]
fn output_line<L: Lanes>(m: [L; IN]) -> [L; OUT] {
    let (sum12, difference12) = (m[1].add(m[2]), m[1].sub(m[2]));
    let (sum34, difference34) = (m[3].add(m[4]), m[3].sub(m[4]));
    [
        m[0].add(sum12).add(sum34),
        difference12.mul_add(difference34, L::splat(2.0)),
        sum12.mul_add(sum34, L::splat(4.0)),
        difference12.mul_add(difference34, L::splat(8.0)).add(m[5]),
    ]
}

/// Output rows `first..first + rows` of a 3×3 layer whose weights [`pack`] made, into `out`.
///
/// # Safety
/// The bounds [`super::run`] checks hold, `packed` is [`pack`]'s for this layer, the layer's
/// inputs are a multiple of `L::WIDTH`, and `L`'s instructions exist on this CPU.
#[inline(always)]
pub(crate) unsafe fn conv_rows<L: Lanes>(conv: &Conv, out: &mut [f32], first: usize, rows: usize) {
    let layer = conv.layer;
    let (inputs, block, pixel, out_pixel) = (layer.inputs, layer.block, conv.pixel, layer.pixel());
    debug_assert!(inputs.is_multiple_of(L::WIDTH) && block == VECTORS * L::WIDTH);
    let mut transformed = vec![0.0f32; POINTS * TILES * inputs];
    let mut products = vec![0.0f32; POINTS * TILES * block];
    let mut patch = vec![0.0f32; POINTS * inputs];
    // What this band may read: its rows and the two below, the columns and the two beyond.
    let (last_row, last_column) = (first + rows + 2, conv.columns + 2);
    let tiles = conv.columns.div_ceil(OUT);
    // SAFETY (for the whole body): full tiles read input rows `first + y .. first + y + 6` with
    // `y + 4 <= rows` and columns `x .. x + 6` with `x + 4 <= columns`, inside what `run`
    // checked; other tiles read only below `last_row` and left of `last_column`. The scratch
    // buffers hold `TILES` tiles (a multiple of `PIXELS`), and stores stay inside `rows` rows of
    // `out` and its `columns`.
    unsafe {
        for y in (0..rows).step_by(OUT) {
            for group in (0..tiles).step_by(TILES) {
                let count = (tiles - group).min(TILES);
                for t in 0..count {
                    let x = (group + t) * OUT;
                    let (source, row_stride, pixel_stride) = if y + OUT <= rows && x + OUT <= conv.columns {
                        (conv.input.as_ptr().add(((first + y) * conv.row + x) * pixel), conv.row * pixel, pixel)
                    } else {
                        for i in 0..IN {
                            for j in 0..IN {
                                let (row, column) = (first + y + i, x + j);
                                let target = &mut patch[(i * IN + j) * inputs..][..inputs];
                                if row < last_row && column < last_column {
                                    target.copy_from_slice(&conv.input[(row * conv.row + column) * pixel..][..inputs]);
                                } else {
                                    target.fill(0.0);
                                }
                            }
                        }
                        (patch.as_ptr(), IN * inputs, inputs)
                    };
                    let target = transformed.as_mut_ptr().add(t * inputs);
                    transform_input::<L>(source, (row_stride, pixel_stride), inputs, target);
                }
                for b in 0..layer.blocks {
                    let weights = layer.weights.as_ptr().add(b * POINTS * inputs * block);
                    multiply::<L>(transformed.as_ptr(), weights, products.as_mut_ptr(), count, inputs, block);
                    for t in 0..count {
                        let x = (group + t) * OUT;
                        let shape = ((rows - y).min(OUT), (conv.columns - x).min(OUT));
                        let target = out.as_mut_ptr().add((y * conv.row + x) * out_pixel + b * block);
                        let store = (target, conv.row * out_pixel);
                        transform_output::<L>(products.as_ptr().add(t * block), store, shape, b, &layer);
                    }
                }
            }
        }
    }
}

/// `Bᵀ d B` of one tile (its first pixel at `source`), every input channel, into the points of
/// tile column `target` (each point's tiles `TILES · inputs` floats apart).
#[inline(always)]
unsafe fn transform_input<L: Lanes>(
    source: *const f32,
    (row_stride, pixel_stride): (usize, usize),
    inputs: usize,
    target: *mut f32,
) {
    for channel in (0..inputs).step_by(L::WIDTH) {
        // Down the columns, then along the rows of what that gave.
        let mut rows = [[L::splat(0.0); IN]; IN];
        for j in 0..IN {
            // SAFETY: the caller's tile.
            let column = input_line(std::array::from_fn(|i| unsafe {
                L::load(source.add(i * row_stride + j * pixel_stride + channel))
            }));
            for (row, value) in rows.iter_mut().zip(column) {
                row[j] = value;
            }
        }
        for (i, row) in rows.into_iter().enumerate() {
            for (j, value) in input_line(row).into_iter().enumerate() {
                // SAFETY: the scratch holds `POINTS` points of `TILES` tiles.
                unsafe { value.store(target.add((i * IN + j) * TILES * inputs + channel)) };
            }
        }
    }
}

/// For every point, the transformed inputs of `count` tiles times one block's transformed
/// weights, summed over the input channels: `products[point][tile][channel of the block]`.
#[inline(always)]
unsafe fn multiply<L: Lanes>(
    transformed: *const f32,
    weights: *const f32,
    products: *mut f32,
    count: usize,
    inputs: usize,
    block: usize,
) {
    for point in 0..POINTS {
        // SAFETY: every pointer stays inside its scratch (`TILES` tiles, `POINTS` points) or the
        // block's packed weights.
        unsafe {
            let weights = weights.add(point * inputs * block);
            let transformed = transformed.add(point * TILES * inputs);
            let products = products.add(point * TILES * block);
            for first in (0..count).step_by(PIXELS) {
                let mut sums = [[L::splat(0.0); VECTORS]; PIXELS];
                let tiles = transformed.add(first * inputs);
                accumulate(&mut sums, weights, (tiles, inputs), inputs, block);
                for (p, sum) in sums.iter().enumerate() {
                    for (v, s) in sum.iter().enumerate() {
                        s.store(products.add((first + p) * block + v * L::WIDTH));
                    }
                }
            }
        }
    }
}

/// `Aᵀ m A` of one tile's products (its first at `products`, each point's `TILES · block` floats
/// apart) plus the bias, through the PReLU, into the `rows × columns` of the tile that exist.
#[inline(always)]
unsafe fn transform_output<L: Lanes>(
    products: *const f32,
    (target, row_stride): (*mut f32, usize),
    (rows, columns): (usize, usize),
    b: usize,
    layer: &super::Layer,
) {
    let block = layer.block;
    let out_pixel = layer.pixel();
    for v in 0..VECTORS {
        let lane = b * block + v * L::WIDTH;
        // SAFETY: bias and slopes hold every packed channel (`run` checked); the products hold
        // `POINTS` points; the stores stay inside the tile's existing pixels.
        unsafe {
            let bias = L::load(layer.bias.as_ptr().add(lane));
            let slope = layer.slopes.map(|slopes| L::load(slopes.as_ptr().add(lane)));
            // Down the columns, then along the rows of what that gave.
            let mut lines = [[L::splat(0.0); IN]; OUT];
            for j in 0..IN {
                let column = output_line(std::array::from_fn(|i| {
                    L::load(products.add((i * IN + j) * TILES * block + v * L::WIDTH))
                }));
                for (line, value) in lines.iter_mut().zip(column) {
                    line[j] = value;
                }
            }
            for (i, line) in lines.into_iter().enumerate().take(rows) {
                for (j, value) in output_line(line).into_iter().enumerate().take(columns) {
                    let value = value.add(bias);
                    let value = slope.map_or(value, |slope| value.prelu(slope));
                    value.store(target.add(i * row_stride + j * out_pixel + v * L::WIDTH));
                }
            }
        }
    }
}
