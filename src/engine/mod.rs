//! upres's own CPU inference for the deployed network ([`Net`]), natively and in the browser's
//! workers: burn stays the reference (the tests hold this engine to its output), the trainer and
//! the GPU path. The network is one operation repeated, so one kernel crate (`upres-kernel`,
//! `kernel/`) runs it all, over weights packed once per model, the bias and the PReLU applied in
//! registers before each layer's single write: Winograd's F(4×4, 3×3) for the 3×3 layers whose
//! inputs fill whole vectors (a quarter of the products), a direct convolution for the first
//! layer's three colours. The bicubic residual is the direct kernel with 5×5 taps, adding into
//! the last layer's output; the pixel shuffle is folded into the conversion to 8-bit RGB, so
//! neither costs a pass of its own over the network's widest activations.
//!
//! Activations are pixel-major (each pixel's channels together), every buffer of a tile with the
//! same pixels per row; a layer's output channels are padded to whole blocks of the kernel (the
//! padding's weights are zero), and its rows to whole groups of [`kernel::PIXELS`]. As in burn,
//! every convolution is valid: each layer eats one pixel of border, so the columns right of the
//! valid ones hold values no valid pixel ever reads.
//!
//! Imported Compact networks ([`crate::compact`]) run on the same kernel: their convolutions pad
//! with zeros, so after each layer the pixels beyond the image's edge are zeroed again
//! (`tiling::Border::Zero`), their residual is nearest-neighbour (added in the shuffle), and a
//! grey network runs on each colour in turn.

pub use upres_kernel::Isa;
use upres_kernel::{self as kernel, Conv, Form, PIXELS};

use burn::prelude::*;

use crate::compact::CompactModel;
use crate::model::{self, Net};
use crate::profile::{self, Profiler, Stage};
use crate::tiling::Outside;
use crate::{Error, Result};

/// One convolution, its weights packed for the kernel.
#[derive(Clone, Debug)]
pub struct PackedLayer {
    inputs: usize,
    /// Real output channels (the packed ones are [`PackedLayer::pixel`]).
    outputs: usize,
    /// Kernel side: 3 for the layers, 5 for the bicubic residual.
    taps: usize,
    /// Output channels per packed block ([`Isa::block`]).
    block: usize,
    /// Which kernel runs the layer, and so how `weights` are packed ([`kernel::pack`]).
    form: Form,
    weights: Vec<f32>,
    /// Per packed output channel.
    bias: Vec<f32>,
    slopes: Option<Vec<f32>>,
    /// Adds to what the output holds, rather than starting from the bias.
    accumulate: bool,
}

impl PackedLayer {
    /// `weight`: `[outputs, inputs, taps, taps]`, as burn and PyTorch hold it.
    fn pack(isa: Isa, [inputs, outputs]: [usize; 2], taps: usize, weight: &[f32], bias: &[f32]) -> Self {
        let block = isa.block();
        let form = Form::choose(isa, inputs, taps);
        let weights = kernel::pack(isa, form, weight, [inputs, outputs], taps);
        let mut padded_bias = bias.to_vec();
        padded_bias.resize(outputs.next_multiple_of(block), 0.0);
        Self { inputs, outputs, taps, block, form, weights, bias: padded_bias, slopes: None, accumulate: false }
    }

    /// The layer as the kernel reads it.
    fn view(&self) -> kernel::Layer<'_> {
        kernel::Layer {
            inputs: self.inputs,
            taps: self.taps,
            block: self.block,
            blocks: self.outputs.div_ceil(self.block),
            form: self.form,
            weights: &self.weights,
            bias: &self.bias,
            slopes: self.slopes.as_deref(),
            accumulate: self.accumulate,
        }
    }

    /// Floats per output pixel: the output channels padded to whole blocks.
    fn pixel(&self) -> usize {
        self.view().pixel()
    }
}

/// A network packed for the CPU kernel: made once per model, then run on any number of tiles.
#[derive(Clone, Debug)]
pub struct PackedNet {
    isa: Isa,
    /// The 3×3 layers, first to last.
    layers: Vec<PackedLayer>,
    residual: Residual,
    scale: usize,
    /// Colours the network takes at once: 3, or 1 for a grey network run on each colour.
    colours: usize,
}

/// What the network's output is added to, before the shuffle.
#[derive(Clone, Debug)]
enum Residual {
    /// The bicubic upsampling of the input to the `3·s²` phases (upres's networks).
    Bicubic(PackedLayer),
    /// Each input pixel in every phase of its colour (Compact networks).
    Nearest,
}

impl PackedNet {
    /// Reads `net`'s weights (on burn's CPU device) and packs them for this machine's kernel.
    pub fn new(net: &Net) -> Result<Self> {
        Self::with_isa(net, Isa::detect())
    }

    /// [`PackedNet::new`] for a given instruction set (the tests run every one this CPU has).
    pub fn with_isa(net: &Net, isa: Isa) -> Result<Self> {
        let read = |tensor: Tensor<1>| {
            tensor.into_data().try_into_vec::<f32>().map_err(|e| Error::Model(format!("unreadable weights: {e:?}")))
        };
        let mut layers = Vec::with_capacity(net.convs.len());
        for (index, conv) in net.convs.iter().enumerate() {
            let [outputs, inputs, taps, _] = conv.weight.dims();
            let weight = read(conv.weight.val().flatten(0, 3))?;
            let bias = conv.bias.as_ref().map_or(Ok(vec![0.0; outputs]), |bias| read(bias.val()))?;
            let mut layer = PackedLayer::pack(isa, [inputs, outputs], taps, &weight, &bias);
            if let Some(activation) = net.activations.get(index) {
                // One slope for every channel, or one per channel.
                let slopes = read(activation.alpha.val())?;
                let mut slopes: Vec<f32> = (0..outputs).map(|c| slopes[c % slopes.len()]).collect();
                slopes.resize(layer.pixel(), 0.0);
                layer.slopes = Some(slopes);
            }
            layers.push(layer);
        }
        let scale = net.scale();
        let residual = Residual::Bicubic(Self::bicubic(isa, scale));
        Ok(Self { isa, layers, residual, scale, colours: 3 })
    }

    /// Packs an imported Compact network for this machine's kernel.
    pub fn from_compact(model: &CompactModel) -> Self {
        let isa = Isa::detect();
        let layers = model
            .layers()
            .iter()
            .map(|layer| {
                let mut packed = PackedLayer::pack(isa, [layer.inputs, layer.outputs], 3, &layer.weight, &layer.bias);
                packed.slopes = layer.slopes.as_ref().map(|slopes| {
                    let mut slopes = slopes.clone();
                    slopes.resize(packed.pixel(), 0.0);
                    slopes
                });
                packed
            })
            .collect();
        Self { isa, layers, residual: Residual::Nearest, scale: model.scale, colours: model.channels }
    }

    /// The bicubic phases ([`model::bicubic_phases`]) as a 5×5 convolution from the three colours:
    /// each colour's phases read that colour only (the other weights are zero, a third of the
    /// residual's work wasted, which is 2 % of the network's).
    fn bicubic(isa: Isa, scale: usize) -> PackedLayer {
        let phases = model::bicubic_phases(scale);
        let (outputs, taps) = (3 * scale * scale, model::BICUBIC_TAPS);
        let per_phase = taps * taps;
        let mut weight = vec![0.0; outputs * 3 * per_phase];
        for output in 0..outputs {
            let colour = output / (scale * scale);
            let from = &phases[output * per_phase..(output + 1) * per_phase];
            weight[(output * 3 + colour) * per_phase..][..per_phase].copy_from_slice(from);
        }
        let mut layer = PackedLayer::pack(isa, [3, outputs], taps, &weight, &vec![0.0; outputs]);
        layer.accumulate = true;
        layer
    }

    pub fn isa(&self) -> Isa {
        self.isa
    }

    pub fn scale(&self) -> usize {
        self.scale
    }

    /// Pixels of border the network eats on each side.
    pub fn context(&self) -> usize {
        self.layers.len()
    }

    /// The network on one tile: `input` is planar RGB in 0..1, `width`×`height` with the context
    /// included, `outside` the image as [`crate::tiling::TilePlan::outside`] says; returns the
    /// interior upscaled, as interleaved 8-bit RGB (what [`crate::tiling::to_rgb`] makes of burn's
    /// output).
    pub fn run(
        &self,
        input: &[f32],
        width: usize,
        height: usize,
        outside: Outside,
        profiler: Option<&Profiler>,
    ) -> Result<Vec<u8>> {
        let context = self.context();
        if width <= 2 * context || height <= 2 * context || input.len() != 3 * width * height {
            return Err(Error::Parameter(format!(
                "a tile of {width}×{height} pixels ({} values) is no input for a network that needs {context} pixels \
                 of border on each side",
                input.len()
            )));
        }
        let (columns, rows) = (width - 2 * context, height - 2 * context);
        let mut rgb = vec![0; columns * rows * self.scale * self.scale * 3];
        // Room for the last group of columns and the residual's taps past the valid ones.
        let row = width.next_multiple_of(PIXELS) + PIXELS;
        for first in (0..3).step_by(self.colours) {
            let planes = &input[first * width * height..(first + self.colours) * width * height];
            let image = profile::time(profiler, Stage::TileCopies, || pixel_major(planes, self.colours, width, row));
            let (mut head, pixel) = self.layers(&image, (width, height), row, outside, profiler);
            profile::time(profiler, Stage::ResidualAndShuffle, || {
                // The residual's window around each output pixel starts at the border's inner edge.
                let centre = |reach: usize| ((context - reach) * row + context - reach) * self.colours;
                let base = match &self.residual {
                    Residual::Bicubic(bicubic) => {
                        let input = &image[centre(model::BICUBIC_TAPS / 2)..];
                        let conv = Conv {
                            layer: bicubic.view(),
                            input,
                            pixel: 3,
                            row,
                            columns: columns.next_multiple_of(PIXELS),
                        };
                        self.layer(&conv, &mut head[..rows * row * pixel]);
                        None
                    }
                    Residual::Nearest => Some(&image[centre(0)..]),
                };
                let head = Head { values: &head, pixel, row, columns, rows, base };
                head.shuffle_into(&mut rgb, first..first + self.colours, self.scale);
            });
        }
        Ok(rgb)
    }

    /// The 3×3 layers on one image of [`PackedNet::colours`] channels: the last layer's output,
    /// and its floats per pixel.
    fn layers(
        &self,
        image: &[f32],
        (width, height): (usize, usize),
        row: usize,
        outside: Outside,
        profiler: Option<&Profiler>,
    ) -> (Vec<f32>, usize) {
        let widest = self.layers.iter().map(PackedLayer::pixel).max().unwrap_or(0);
        let mut even = vec![0.0; height * row * widest];
        let mut odd = vec![0.0; height * row * widest];
        let (mut rows, mut columns, mut pixel) = (height, width, self.colours);
        profile::time(profiler, Stage::Convolution, || {
            for (index, layer) in self.layers.iter().enumerate() {
                let (input, output) = if index % 2 == 0 { (&odd, &mut even) } else { (&even, &mut odd) };
                let input = if index == 0 { image } else { input };
                (rows, columns) = (rows - 2, columns - 2);
                let conv = Conv { layer: layer.view(), input, pixel, row, columns: columns.next_multiple_of(PIXELS) };
                let output = &mut output[..rows * row * layer.pixel()];
                self.layer(&conv, output);
                pixel = layer.pixel();
                if outside != Outside::default() && index + 1 < self.layers.len() {
                    zero_outside(output, (width, height), index + 1, outside, (row, pixel));
                }
            }
        });
        (if self.layers.len() % 2 == 1 { even } else { odd }, pixel)
    }

    /// One layer over all its output rows: natively in bands spread over the threads.
    fn layer(&self, conv: &Conv, out: &mut [f32]) {
        let out_row = conv.row * conv.layer.pixel();
        #[cfg(feature = "threads")]
        {
            use rayon::prelude::*;
            let rows = out.len() / out_row;
            let band = rows.div_ceil(4 * rayon::current_num_threads()).next_multiple_of(kernel::TILE_ROWS);
            out.par_chunks_mut(band * out_row)
                .enumerate()
                .for_each(|(index, band_out)| kernel::run(self.isa, conv, band_out, index * band));
        }
        #[cfg(not(feature = "threads"))]
        {
            debug_assert_eq!(out.len() % out_row, 0);
            kernel::run(self.isa, conv, out, 0);
        }
    }
}

/// `channels` planes of `width` columns to pixel-major rows of `row` pixels.
fn pixel_major(planes: &[f32], channels: usize, width: usize, row: usize) -> Vec<f32> {
    let height = planes.len() / channels / width;
    let mut image = vec![0.0; height * row * channels];
    for (channel, plane) in planes.chunks_exact(width * height).enumerate() {
        for (y, line) in plane.chunks_exact(width).enumerate() {
            for (x, &value) in line.iter().enumerate() {
                image[(y * row + x) * channels + channel] = value;
            }
        }
    }
    image
}

/// Zeroes the pixels of a layer's output (`pixel` floats each, rows of `row`) that lie beyond the
/// image: the tile's `outside` border, less the `eaten` pixels the layers so far have eaten.
fn zero_outside(
    output: &mut [f32],
    (width, height): (usize, usize),
    eaten: usize,
    outside: Outside,
    (row, pixel): (usize, usize),
) {
    let (columns, rows) = (width - 2 * eaten, height - 2 * eaten);
    // Output pixel `i` is tile pixel `i + eaten`; the image spans `before..len − after` of the tile.
    let span = |before: usize, after: usize, len: usize| {
        (before.saturating_sub(eaten).min(len), (len + eaten).saturating_sub(after).min(len))
    };
    let (left, right) = span(outside.left, outside.right, columns);
    let (top, bottom) = span(outside.top, outside.bottom, rows);
    for (y, line) in output.chunks_exact_mut(row * pixel).take(rows).enumerate() {
        if y < top || y >= bottom {
            line[..columns * pixel].fill(0.0);
        } else {
            line[..left * pixel].fill(0.0);
            line[right.max(left) * pixel..columns * pixel].fill(0.0);
        }
    }
}

/// The last layer's output: `colours·s²` phases per pixel (of `pixel` floats, rows of `row`),
/// and, for a nearest-neighbour residual, the input pixels to add (of `colours` floats each,
/// the first at the interior's first pixel).
struct Head<'a> {
    values: &'a [f32],
    pixel: usize,
    row: usize,
    columns: usize,
    rows: usize,
    base: Option<&'a [f32]>,
}

impl Head<'_> {
    /// Writes the phases as `s×s` blocks of 8-bit pixels into interleaved RGB, the colours of
    /// `colours`: the pixel shuffle, the residual and the rounding in one pass. Channel
    /// `c·s² + i·s + j` is colour `c` at row phase `i`, column phase `j`
    /// ([`model::pixel_shuffle`]).
    fn shuffle_into(&self, rgb: &mut [u8], colours: std::ops::Range<usize>, scale: usize) {
        let count = colours.len();
        let out_line = self.columns * scale * 3;
        // Output row by output row, each written front to back.
        for (out_y, line) in rgb.chunks_exact_mut(out_line).take(self.rows * scale).enumerate() {
            let (y, i) = (out_y / scale, out_y % scale);
            let pixels = &self.values[y * self.row * self.pixel..];
            for (x, block) in line.chunks_exact_mut(scale * 3).enumerate() {
                let phases = &pixels[x * self.pixel..][..count * scale * scale];
                let base = self.base.map(|base| &base[(y * self.row + x) * count..][..count]);
                for (local, colour) in colours.clone().enumerate() {
                    let base = base.map_or(0.0, |base| base[local]);
                    let row = &phases[(local * scale + i) * scale..][..scale];
                    for (out, &phase) in block[colour..].iter_mut().step_by(3).zip(row) {
                        *out = to_u8(phase + base);
                    }
                }
            }
        }
    }
}

/// [`crate::tiling::to_u8`] without `f32::round`, a library call on baseline x86-64: for values
/// at least −½, adding ½ and truncating rounds half up as `round` does.
fn to_u8(value: f32) -> u8 {
    (value * 255.0 + 0.5).clamp(0.0, 255.0) as u8
}
