//! upres's own CPU inference for the deployed network ([`Net`]), natively and in the browser's
//! workers: burn stays the reference (the tests hold this engine to its output), the trainer and
//! the GPU path. The network is one operation repeated, so one kernel (the `upres-kernel` crate,
//! `kernel/`) runs it all:
//! a direct 3×3 convolution over weights packed once per model, the bias and the PReLU applied in
//! registers before its single write. The bicubic residual is the same kernel with 5×5 taps,
//! adding into the last layer's output; the pixel shuffle is folded into the conversion to 8-bit
//! RGB, so neither costs a pass of its own over the network's widest activations.
//!
//! Activations are pixel-major (each pixel's channels together), every buffer of a tile with the
//! same pixels per row; a layer's output channels are padded to whole blocks of the kernel (the
//! padding's weights are zero), and its rows to whole groups of [`kernel::PIXELS`]. As in burn,
//! every convolution is valid: each layer eats one pixel of border, so the columns right of the
//! valid ones hold values no valid pixel ever reads.

pub use upres_kernel::Isa;
use upres_kernel::{self as kernel, Conv, PIXELS};

use burn::prelude::*;

use crate::model::{self, Net};
use crate::profile::{self, Profiler, Stage};
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
    /// `[block][ty][tx][input][channel of the block]`.
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
        let padded = outputs.next_multiple_of(block);
        let mut weights = vec![0.0; padded * taps * taps * inputs];
        let mut at = 0;
        for first in (0..padded).step_by(block) {
            for tap in 0..taps * taps {
                for input in 0..inputs {
                    for output in (first..first + block).filter(|&o| o < outputs) {
                        weights[at + output - first] = weight[(output * inputs + input) * taps * taps + tap];
                    }
                    at += block;
                }
            }
        }
        let mut padded_bias = bias.to_vec();
        padded_bias.resize(padded, 0.0);
        Self { inputs, outputs, taps, block, weights, bias: padded_bias, slopes: None, accumulate: false }
    }

    /// The layer as the kernel reads it.
    fn view(&self) -> kernel::Layer<'_> {
        kernel::Layer {
            inputs: self.inputs,
            taps: self.taps,
            block: self.block,
            blocks: self.outputs.div_ceil(self.block),
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
    /// The bicubic upsampling of the input to the `3·s²` phases, added to the last layer's output.
    residual: PackedLayer,
    scale: usize,
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
        let residual = Self::residual(isa, scale);
        Ok(Self { isa, layers, residual, scale })
    }

    /// The bicubic phases ([`model::bicubic_phases`]) as a 5×5 convolution from the three colours:
    /// each colour's phases read that colour only (the other weights are zero, a third of the
    /// residual's work wasted, which is 2 % of the network's).
    fn residual(isa: Isa, scale: usize) -> PackedLayer {
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

    /// Pixels of border the network eats on each side.
    pub fn context(&self) -> usize {
        self.layers.len()
    }

    /// The network on one tile: `input` is planar RGB in 0..1, `width`×`height` with the context
    /// included; returns the interior upscaled, as interleaved 8-bit RGB (what
    /// [`crate::tiling::to_rgb`] makes of burn's output).
    pub fn run(&self, input: &[f32], width: usize, height: usize, profiler: Option<&Profiler>) -> Result<Vec<u8>> {
        let context = self.context();
        if width <= 2 * context || height <= 2 * context || input.len() != 3 * width * height {
            return Err(Error::Parameter(format!(
                "a tile of {width}×{height} pixels ({} values) is no input for a network that needs {context} pixels \
                 of border on each side",
                input.len()
            )));
        }
        // Room for the last group of columns and the residual's taps past the valid ones.
        let row = width.next_multiple_of(PIXELS) + PIXELS;
        let image = profile::time(profiler, Stage::TileCopies, || pixel_major(input, width, height, row));
        let widest = self.layers.iter().map(PackedLayer::pixel).max().unwrap_or(0);
        let mut even = vec![0.0; height * row * widest];
        let mut odd = vec![0.0; height * row * widest];

        let (mut rows, mut columns, mut pixel) = (height, width, 3);
        profile::time(profiler, Stage::Convolution, || {
            for (index, layer) in self.layers.iter().enumerate() {
                let (input, output) = if index % 2 == 0 { (&odd, &mut even) } else { (&even, &mut odd) };
                let input = if index == 0 { &image } else { input };
                (rows, columns) = (rows - 2, columns - 2);
                let conv = Conv { layer: layer.view(), input, pixel, row, columns: columns.next_multiple_of(PIXELS) };
                self.layer(&conv, &mut output[..rows * row * layer.pixel()]);
                pixel = layer.pixel();
            }
        });
        let head = if self.layers.len() % 2 == 1 { &mut even } else { &mut odd };
        Ok(profile::time(profiler, Stage::ResidualAndShuffle, || {
            // The residual's 5×5 window around each output pixel starts 2 pixels inside the border.
            let start = ((context - 2) * row + context - 2) * 3;
            let conv = Conv {
                layer: self.residual.view(),
                input: &image[start..],
                pixel: 3,
                row,
                columns: columns.next_multiple_of(PIXELS),
            };
            self.layer(&conv, &mut head[..rows * row * pixel]);
            shuffle_to_rgb(head, (columns, rows), row, pixel, self.scale)
        }))
    }

    /// One layer over all its output rows: natively in bands spread over the threads.
    fn layer(&self, conv: &Conv, out: &mut [f32]) {
        let out_row = conv.row * conv.layer.pixel();
        #[cfg(feature = "threads")]
        {
            use rayon::prelude::*;
            let rows = out.len() / out_row;
            let band = rows.div_ceil(4 * rayon::current_num_threads()).max(1);
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

/// Planar RGB to pixel-major rows of `row` pixels.
fn pixel_major(planes: &[f32], width: usize, height: usize, row: usize) -> Vec<f32> {
    let mut image = vec![0.0; height * row * 3];
    for (colour, plane) in planes.chunks_exact(width * height).enumerate() {
        for (y, line) in plane.chunks_exact(width).enumerate() {
            for (x, &value) in line.iter().enumerate() {
                image[(y * row + x) * 3 + colour] = value;
            }
        }
    }
    image
}

/// The head's `3·s²` phases of each pixel to `s×s` interleaved 8-bit RGB pixels: the pixel shuffle
/// and the rounding in one pass. Channel `c·s² + i·s + j` is colour `c` at row phase `i`, column
/// phase `j` ([`model::pixel_shuffle`]).
fn shuffle_to_rgb(head: &[f32], (width, height): (usize, usize), row: usize, pixel: usize, scale: usize) -> Vec<u8> {
    let out_width = width * scale;
    let mut rgb = vec![0; out_width * height * scale * 3];
    for (y, lines) in rgb.chunks_exact_mut(out_width * scale * 3).enumerate() {
        for (i, line) in lines.chunks_exact_mut(out_width * 3).enumerate() {
            for (x, pixels) in line.chunks_exact_mut(scale * 3).enumerate() {
                let phases = &head[(y * row + x) * pixel..][..3 * scale * scale];
                for (j, rgb) in pixels.chunks_exact_mut(3).enumerate() {
                    for (colour, value) in rgb.iter_mut().enumerate() {
                        *value = to_u8(phases[(colour * scale + i) * scale + j]);
                    }
                }
            }
        }
    }
    rgb
}

/// [`crate::tiling::to_u8`] without `f32::round`, a library call on baseline x86-64: for values
/// at least −½, adding ½ and truncating rounds half up as `round` does.
fn to_u8(value: f32) -> u8 {
    (value * 255.0 + 0.5).clamp(0.0, 255.0) as u8
}
