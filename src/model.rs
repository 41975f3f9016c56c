//! The super-resolution network: one definition for training, fusion and inference.
//!
//! Every layer runs at the low resolution (cheap on WebGPU and on a CPU); the head is a 3×3
//! convolution to `3·s²` channels followed by a pixel shuffle, plus a global residual of the input
//! upsampled with bicubic, computed as a fixed grouped 5×5 convolution to the same `3·s²` phases
//! before the shuffle (75·s² multiply-adds per pixel: 7 % of the ×4 network). Compared with a
//! nearest-neighbour residual, a freshly initialised network starts at bicubic quality and
//! every step of training improves on it, which matters when training runs on a laptop CPU.
//!
//! All convolutions are *valid* (no padding): the network maps an input with `context()` pixels
//! of border on every side to the exact output of its interior. Borders are the caller's
//! business (the tiler pads with reflection), which makes tiled and untiled results identical and
//! lets a 1×1→3×3 branch fuse exactly (zero padding would make it differ at image borders).
//!
//! This is the deployed network, [`Net`]: a plain chain of 3×3 convolutions and PReLUs. Training
//! (the `train` feature) uses a re-parameterisable version of it whose blocks fold into these
//! convolutions (`train::net`).

use burn::module::Initializer;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{PRelu, PReluConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use serde::{Deserialize, Serialize};

use crate::profile::{self, Profiler, Stage};
use crate::resample;

/// Model scales a network can be built for; 8× runs the 4× model then the 2× model.
pub const MODEL_SCALES: [usize; 3] = [2, 3, 4];

/// Which network a model is: what runs it, and what its tiles' borders hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Architecture {
    /// upres's own ([`Net`]): valid convolutions on reflected borders, a bicubic residual.
    #[default]
    Upres,
    /// Real-ESRGAN's SRVGGNetCompact, imported ([`crate::compact`]): convolutions padded with
    /// zeros, a nearest-neighbour residual; `colours` 3 (RGB) or 1 (grey, run on each colour).
    Compact { colours: usize },
}

impl Architecture {
    pub fn is_upres(&self) -> bool {
        *self == Architecture::Upres
    }

    /// In words: "upres", "Compact (RGB)", "Compact (grey)".
    pub fn name(&self) -> &'static str {
        match self {
            Architecture::Upres => "upres",
            Architecture::Compact { colours: 1 } => "Compact (grey)",
            Architecture::Compact { .. } => "Compact (RGB)",
        }
    }

    /// Checks `config` for this architecture before anything is allocated from it (a card may
    /// come from a file or a page).
    pub fn validate(&self, config: &NetConfig) -> crate::Result<()> {
        match *self {
            Architecture::Upres => config.validate(),
            Architecture::Compact { colours } => {
                if matches!(colours, 1 | 3)
                    && (2..=8).contains(&config.scale)
                    && (1..=512).contains(&config.channels)
                    && config.blocks <= 256
                {
                    Ok(())
                } else {
                    Err(crate::Error::Model(format!(
                        "implausible Compact model: ×{}, {} colours, {} channels, {} hidden layers",
                        config.scale, colours, config.channels, config.blocks
                    )))
                }
            }
        }
    }
}

/// Channels and depth of the network: everything needed to rebuild it before loading weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetConfig {
    /// Upscaling factor: 2, 3 or 4.
    pub scale: usize,
    /// Feature channels of the hidden layers.
    pub channels: usize,
    /// Hidden 3×3 layers between the first and the last convolution.
    pub blocks: usize,
}

impl NetConfig {
    pub fn new(scale: usize, channels: usize, blocks: usize) -> Self {
        Self { scale, channels, blocks }
    }

    /// Checks the configuration before anything is allocated from it (it may come from a file).
    pub fn validate(&self) -> crate::Result<()> {
        if !MODEL_SCALES.contains(&self.scale) {
            return Err(crate::Error::Model(format!(
                "scale {} is not one of the model scales {MODEL_SCALES:?}",
                self.scale
            )));
        }
        if !(1..=256).contains(&self.channels) || self.blocks > 64 {
            return Err(crate::Error::Model(format!(
                "implausible architecture: {} channels, {} blocks",
                self.channels, self.blocks
            )));
        }
        Ok(())
    }

    /// Pixels of input border each output pixel depends on (one per 3×3 layer).
    pub fn context(&self) -> usize {
        self.blocks + 2
    }

    fn out_channels(&self) -> usize {
        3 * self.scale * self.scale
    }

    /// (input channels, output channels) of each 3×3 layer, first to last.
    pub(crate) fn layer_channels(&self) -> Vec<[usize; 2]> {
        let c = self.channels;
        std::iter::once([3, c])
            .chain(std::iter::repeat_n([c, c], self.blocks))
            .chain(std::iter::once([c, self.out_channels()]))
            .collect()
    }

    /// Parameters of the deployed (fused) network.
    pub fn fused_parameters(&self) -> usize {
        let convs: usize = self.layer_channels().iter().map(|[i, o]| i * o * 9 + o).sum();
        let prelus = self.channels * (self.blocks + 1);
        convs + prelus
    }

    /// Multiply-accumulates of the deployed network per input (low-resolution) pixel, the
    /// bicubic residual included.
    pub fn macs_per_input_pixel(&self) -> usize {
        let layers: usize = self.layer_channels().iter().map(|[i, o]| i * o * 9).sum();
        layers + self.out_channels() * BICUBIC_TAPS * BICUBIC_TAPS
    }

    /// The deployed network, with freshly initialised weights (load a record into it).
    pub fn init(&self, device: &Device) -> Net {
        let layers = self.layer_channels();
        Net {
            convs: layers.iter().map(|&ch| conv(ch, 3, device)).collect(),
            activations: self.activations(device),
            scale: self.scale,
        }
    }

    pub(crate) fn activations(&self, device: &Device) -> Vec<PRelu> {
        (0..=self.blocks).map(|_| PReluConfig::new().with_num_parameters(self.channels).init(device)).collect()
    }
}

pub(crate) fn conv([input, output]: [usize; 2], kernel: usize, device: &Device) -> Conv2d {
    scaled_conv([input, output], kernel, 1.0, device)
}

/// A valid convolution with burn's default (Kaiming uniform) initialisation scaled by `gain`.
pub(crate) fn scaled_conv([input, output]: [usize; 2], kernel: usize, gain: f64, device: &Device) -> Conv2d {
    Conv2dConfig::new([input, output], [kernel, kernel])
        .with_padding(PaddingConfig2d::Valid)
        .with_initializer(Initializer::KaimingUniform { gain: gain / 3f64.sqrt(), fan_out_only: false })
        .init(device)
}

/// The deployed network: 3×3 valid convolutions with a PReLU after all but the last.
#[derive(Module, Debug)]
pub struct Net {
    pub(crate) convs: Vec<Conv2d>,
    pub(crate) activations: Vec<PRelu>,
    pub(crate) scale: usize,
}

impl Net {
    /// `input`: `[N, 3, H, W]`, values in 0..1, with `context` pixels of border on each side.
    /// Returns `[N, 3, s·(H − 2·context), s·(W − 2·context)]`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        self.forward_timed(input, None)
    }

    pub fn scale(&self) -> usize {
        self.scale
    }

    /// Pixels of input border each output pixel depends on (one per 3×3 layer).
    pub fn context(&self) -> usize {
        self.convs.len()
    }

    /// [`Net::forward`], adding each kind of operation's time to `profiler` (the CPU backend
    /// computes each operation when it is called).
    pub fn forward_timed(&self, input: Tensor<4>, profiler: Option<&Profiler>) -> Tensor<4> {
        forward_chain(input, self.convs.len(), &self.activations, self.scale, profiler, |index, x| {
            self.convs[index].forward(x)
        })
    }
}

/// The shape both networks share: `layers` 3×3 layers (`layer(index, x)`), a PReLU after all but
/// the last, then the bicubic residual and the pixel shuffle.
pub(crate) fn forward_chain(
    input: Tensor<4>,
    layers: usize,
    activations: &[PRelu],
    scale: usize,
    profiler: Option<&Profiler>,
    layer: impl Fn(usize, Tensor<4>) -> Tensor<4>,
) -> Tensor<4> {
    let mut x = input.clone();
    for index in 0..layers {
        x = profile::time(profiler, Stage::Convolution, || layer(index, x));
        if let Some(activation) = activations.get(index) {
            x = profile::time(profiler, Stage::Activation, || activation.forward(x));
        }
    }
    // Each valid 3×3 layer eats one pixel of border.
    profile::time(profiler, Stage::ResidualAndShuffle, || add_upsampled_input(x, input, layers, scale))
}

/// Adds the bicubic upsampling of the centre of `input` to the head's `[N, 3·s², h, w]` output
/// and pixel-shuffles.
fn add_upsampled_input(head: Tensor<4>, input: Tensor<4>, context: usize, scale: usize) -> Tensor<4> {
    let [_, _, h, w] = head.dims();
    let reach = BICUBIC_TAPS / 2;
    let window = input.slice(s![.., .., context - reach..context + h + reach, context - reach..context + w + reach]);
    let kernel = Tensor::<4>::from_data(
        TensorData::new(bicubic_phases(scale), [3 * scale * scale, 1, BICUBIC_TAPS, BICUBIC_TAPS]),
        &head.device(),
    );
    let base = conv2d(window, kernel, None, ConvOptions::new([1, 1], [0, 0], [1, 1], 3));
    pixel_shuffle(head + base, scale)
}

/// Taps of the bicubic kernel per dimension at the low resolution (support ±2 pixels).
pub(crate) const BICUBIC_TAPS: usize = 5;

/// Bicubic (Keys, a = −0.5, as MATLAB's `imresize` upscales) as a grouped convolution: for each
/// colour, `s²` output channels, one per sub-pixel phase, ordered as the pixel shuffle reads
/// them (channel `c·s² + i·s + j` is row phase `i`, column phase `j`). Weights `[3·s², 1, 5, 5]`.
pub(crate) fn bicubic_phases(scale: usize) -> Vec<f32> {
    // Output pixel s·i + p samples the input at i + (p + ½)/s − ½.
    let taps: Vec<[f64; BICUBIC_TAPS]> = (0..scale)
        .map(|phase| {
            let offset = (phase as f64 + 0.5) / scale as f64 - 0.5;
            std::array::from_fn(|k| resample::cubic(offset - (k as f64 - 2.0)))
        })
        .collect();
    let mut kernel = Vec::with_capacity(3 * scale * scale * BICUBIC_TAPS * BICUBIC_TAPS);
    for _colour in 0..3 {
        for rows in &taps {
            for columns in &taps {
                for row in rows {
                    kernel.extend(columns.iter().map(|column| (row * column) as f32));
                }
            }
        }
    }
    kernel
}

pub(crate) fn pixel_shuffle(x: Tensor<4>, scale: usize) -> Tensor<4> {
    let [n, channels, h, w] = x.dims();
    let colours = channels / (scale * scale);
    x.reshape([n, colours, scale, scale, h, w]).permute([0, 1, 4, 2, 5, 3]).reshape([n, colours, h * scale, w * scale])
}

#[cfg(test)]
mod tests {
    use burn::module::Param;

    use super::*;
    use crate::resample::imresize_matlab;

    #[test]
    fn bicubic_phases_sum_to_one() {
        for scale in MODEL_SCALES {
            let kernel = bicubic_phases(scale);
            for phase in kernel.chunks(BICUBIC_TAPS * BICUBIC_TAPS) {
                let sum: f32 = phase.iter().sum();
                assert!((sum - 1.0).abs() < 1e-5, "×{scale}: a phase sums to {sum}");
            }
        }
    }

    /// With its last layer silenced, the network is exactly MATLAB's bicubic upscale (away from
    /// the borders, where MATLAB replicates and the tiler reflects).
    #[test]
    fn residual_base_is_matlab_bicubic() {
        let device = Device::flex();
        for scale in MODEL_SCALES {
            let config = NetConfig::new(scale, 4, 1);
            let mut net = config.init(&device);
            let last = net.convs.len() - 1;
            let silent = net.convs[last].weight.val().zeros_like();
            net.convs[last].weight = Param::from_tensor(silent);
            net.convs[last].bias = None;

            let (width, height) = (24, 20);
            let pixels: Vec<u8> = (0..width * height * 3).map(|i| ((i * 37) % 251) as u8).collect();
            let expected = imresize_matlab(&pixels, width, height, 3, width * scale, height * scale);
            let planar: Vec<f32> =
                (0..3).flat_map(|c| pixels.iter().skip(c).step_by(3).map(|&v| f32::from(v) / 255.0)).collect();
            let input = Tensor::<4>::from_data(TensorData::new(planar, [1, 3, height, width]), &device);
            let output = net.forward(input).into_data().try_to_vec::<f32>().unwrap();

            let context = config.context();
            let (out_w, out_h) = ((width - 2 * context) * scale, (height - 2 * context) * scale);
            let mut worst = 0.0f32;
            // Skip two more LR pixels, where MATLAB's replicated border reaches in.
            for y in 2 * scale..out_h - 2 * scale {
                for x in 2 * scale..out_w - 2 * scale {
                    for c in 0..3 {
                        let ours = output[(c * out_h + y) * out_w + x] * 255.0;
                        let theirs = expected[((y + context * scale) * width * scale + x + context * scale) * 3 + c];
                        worst = worst.max((ours - f32::from(theirs)).abs());
                    }
                }
            }
            // MATLAB rounds to 8 bits between its two passes and at the end; we do not.
            assert!(worst <= 1.1, "×{scale}: differs from MATLAB bicubic by {worst}");
        }
    }
}
