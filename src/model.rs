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
//! Training uses [`TrainNet`], whose blocks are re-parameterisable (RepVGG/ECBSR style:
//! 3×3 + 1×1 + 1×1→3×3 + identity); [`TrainNet::fuse`] folds each block into one 3×3 convolution,
//! giving the deployed [`Net`]: a plain chain of 3×3 convolutions and PReLUs.

use burn::module::{Initializer, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{PRelu, PReluConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use serde::{Deserialize, Serialize};

/// Model scales a network can be built for; 8× runs the 4× model then the 2× model.
pub const MODEL_SCALES: [usize; 3] = [2, 3, 4];

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
        Self {
            scale,
            channels,
            blocks,
        }
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
    fn layer_channels(&self) -> Vec<[usize; 2]> {
        let c = self.channels;
        std::iter::once([3, c])
            .chain(std::iter::repeat_n([c, c], self.blocks))
            .chain(std::iter::once([c, self.out_channels()]))
            .collect()
    }

    /// Parameters of the deployed (fused) network.
    pub fn fused_parameters(&self) -> usize {
        let convs: usize = self
            .layer_channels()
            .iter()
            .map(|[i, o]| i * o * 9 + o)
            .sum();
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

    /// The re-parameterisable network used for training.
    pub fn init_train(&self, device: &Device) -> TrainNet {
        let layers = self.layer_channels();
        let last = layers.len() - 1;
        TrainNet {
            blocks: layers
                .iter()
                .enumerate()
                // A small last layer starts the network near the plain upsampled input.
                .map(|(index, &[i, o])| RepBlock::new(i, o, if index == last { 0.1 } else { 1.0 }, device))
                .collect(),
            activations: self.activations(device),
            scale: self.scale,
        }
    }

    fn activations(&self, device: &Device) -> Vec<PRelu> {
        (0..=self.blocks)
            .map(|_| {
                PReluConfig::new()
                    .with_num_parameters(self.channels)
                    .init(device)
            })
            .collect()
    }
}

fn conv([input, output]: [usize; 2], kernel: usize, device: &Device) -> Conv2d {
    scaled_conv([input, output], kernel, 1.0, device)
}

/// A valid convolution with burn's default (Kaiming uniform) initialisation scaled by `gain`.
fn scaled_conv([input, output]: [usize; 2], kernel: usize, gain: f64, device: &Device) -> Conv2d {
    Conv2dConfig::new([input, output], [kernel, kernel])
        .with_padding(PaddingConfig2d::Valid)
        .with_initializer(Initializer::KaimingUniform {
            gain: gain / 3f64.sqrt(),
            fan_out_only: false,
        })
        .init(device)
}

/// The deployed network: 3×3 valid convolutions with a PReLU after all but the last.
#[derive(Module, Debug)]
pub struct Net {
    convs: Vec<Conv2d>,
    activations: Vec<PRelu>,
    scale: usize,
}

impl Net {
    /// `input`: `[N, 3, H, W]`, values in 0..1, with `context` pixels of border on each side.
    /// Returns `[N, 3, s·(H − 2·context), s·(W − 2·context)]`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        forward_chain(input, self.convs.len(), &self.activations, self.scale, |index, x| {
            self.convs[index].forward(x)
        })
    }
}

/// The shape both networks share: `layers` 3×3 layers (`layer(index, x)`), a PReLU after all but
/// the last, then the bicubic residual and the pixel shuffle.
fn forward_chain(
    input: Tensor<4>,
    layers: usize,
    activations: &[PRelu],
    scale: usize,
    layer: impl Fn(usize, Tensor<4>) -> Tensor<4>,
) -> Tensor<4> {
    let mut x = input.clone();
    for index in 0..layers {
        x = layer(index, x);
        if let Some(activation) = activations.get(index) {
            x = activation.forward(x);
        }
    }
    // Each valid 3×3 layer eats one pixel of border.
    add_upsampled_input(x, input, layers, scale)
}

/// Adds the bicubic upsampling of the centre of `input` to the head's `[N, 3·s², h, w]` output
/// and pixel-shuffles.
fn add_upsampled_input(head: Tensor<4>, input: Tensor<4>, context: usize, scale: usize) -> Tensor<4> {
    let [_, _, h, w] = head.dims();
    let reach = BICUBIC_TAPS / 2;
    let window = input.slice(s![
        ..,
        ..,
        context - reach..context + h + reach,
        context - reach..context + w + reach
    ]);
    let kernel = Tensor::<4>::from_data(
        TensorData::new(bicubic_phases(scale), [3 * scale * scale, 1, BICUBIC_TAPS, BICUBIC_TAPS]),
        &head.device(),
    );
    let base = conv2d(window, kernel, None, ConvOptions::new([1, 1], [0, 0], [1, 1], 3));
    pixel_shuffle(head + base, scale)
}

/// Taps of the bicubic kernel per dimension at the low resolution (support ±2 pixels).
const BICUBIC_TAPS: usize = 5;

/// Bicubic (Keys, a = −0.5, as MATLAB's `imresize` upscales) as a grouped convolution: for each
/// colour, `s²` output channels, one per sub-pixel phase, ordered as the pixel shuffle reads
/// them (channel `c·s² + i·s + j` is row phase `i`, column phase `j`). Weights `[3·s², 1, 5, 5]`.
fn bicubic_phases(scale: usize) -> Vec<f32> {
    let cubic = |x: f64| {
        let x = x.abs();
        if x <= 1.0 {
            1.5 * x.powi(3) - 2.5 * x.powi(2) + 1.0
        } else if x < 2.0 {
            -0.5 * x.powi(3) + 2.5 * x.powi(2) - 4.0 * x + 2.0
        } else {
            0.0
        }
    };
    // Output pixel s·i + p samples the input at i + (p + ½)/s − ½.
    let taps: Vec<[f64; BICUBIC_TAPS]> = (0..scale)
        .map(|phase| {
            let offset = (phase as f64 + 0.5) / scale as f64 - 0.5;
            std::array::from_fn(|k| cubic(offset - (k as f64 - 2.0)))
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

fn pixel_shuffle(x: Tensor<4>, scale: usize) -> Tensor<4> {
    let [n, channels, h, w] = x.dims();
    let colours = channels / (scale * scale);
    x.reshape([n, colours, scale, scale, h, w])
        .permute([0, 1, 4, 2, 5, 3])
        .reshape([n, colours, h * scale, w * scale])
}

/// A training-time block that fuses into one 3×3 convolution:
/// `3×3(x) + 1×1(x) + 3×3(1×1expand(x)) [+ x when shapes allow]`.
#[derive(Module, Debug)]
pub struct RepBlock {
    conv3: Conv2d,
    conv1: Conv2d,
    expand: Conv2d,
    expand3: Conv2d,
    identity: bool,
}

impl RepBlock {
    fn new(input: usize, output: usize, gain: f64, device: &Device) -> Self {
        // A wider hidden layer in the 1×1→3×3 branch gives the optimiser more room (ECBSR's
        // depth multiplier of 2); it costs nothing after fusion.
        let hidden = 2 * output.max(input);
        Self {
            conv3: scaled_conv([input, output], 3, gain, device),
            conv1: scaled_conv([input, output], 1, gain, device),
            expand: conv([input, hidden], 1, device),
            expand3: scaled_conv([hidden, output], 3, gain, device),
            identity: input == output,
        }
    }

    /// Trains through the fused kernel ("online re-parameterisation"): the four branches are
    /// linear in `x` and every convolution is valid, so one 3×3 convolution with the composed
    /// kernel computes exactly their sum, and gradients still reach every branch's parameters.
    /// It costs the 3×3 convolution of the deployed layer instead of four convolutions with a
    /// twice-as-wide hidden one (3.3× fewer multiply-adds for 16 channels).
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let (weight, bias) = self.kernel();
        conv2d(x, weight, Some(bias), ConvOptions::new([1, 1], [0, 0], [1, 1], 1))
    }

    /// The one 3×3 convolution this block computes, as (weights `[o, i, 3, 3]`, bias `[o]`),
    /// built from the branch parameters with differentiable tensor operations.
    fn kernel(&self) -> (Tensor<4>, Tensor<1>) {
        let w3 = self.conv3.weight.val();
        let [o, i, _, _] = w3.dims();
        let [m, ..] = self.expand.weight.dims();
        let device = w3.device();
        let bias_of = |conv: &Conv2d, n: usize| match &conv.bias {
            Some(bias) => bias.val(),
            None => Tensor::zeros([n], &device),
        };
        // 1×1 kernels act on the centre tap of a 3×3 one.
        let centre = Tensor::<4>::from_data(
            TensorData::new(vec![0., 0., 0., 0., 1., 0., 0., 0., 0.], [1, 1, 3, 3]),
            &device,
        );
        let mut weight = w3 + self.conv1.weight.val() * centre.clone();
        if self.identity {
            let eye = Tensor::<2>::eye(o, &device).reshape([o, i, 1, 1]);
            weight = weight + eye * centre;
        }
        // 3×3 after 1×1: kernel[o, i, tap] = Σ_m expand3[o, m, tap] · expand[m, i].
        let expand3 = self.expand3.weight.val();
        let expand = self.expand.weight.val().reshape([1, m, i]);
        let composed = expand3
            .clone()
            .permute([2, 3, 0, 1])
            .reshape([9, o, m])
            .matmul(expand)
            .reshape([3, 3, o, i])
            .permute([2, 3, 0, 1]);
        // The expand bias passes through every tap of the 3×3 that follows it.
        let expand_bias = expand3
            .sum_dim(3)
            .sum_dim(2)
            .reshape([o, m])
            .matmul(bias_of(&self.expand, m).reshape([m, 1]))
            .reshape([o]);
        let bias = bias_of(&self.conv3, o) + bias_of(&self.conv1, o) + bias_of(&self.expand3, o) + expand_bias;
        (weight + composed, bias)
    }
}

/// The network as trained: re-parameterisable blocks, fused into a [`Net`] for deployment.
#[derive(Module, Debug)]
pub struct TrainNet {
    blocks: Vec<RepBlock>,
    activations: Vec<PRelu>,
    scale: usize,
}

impl TrainNet {
    /// Same contract as [`Net::forward`].
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        forward_chain(input, self.blocks.len(), &self.activations, self.scale, |index, x| {
            self.blocks[index].forward(x)
        })
    }

    /// Takes every layer but the last (which depends on the scale) from `donor`.
    pub fn with_body_from(mut self, donor: &TrainNet) -> crate::Result<Self> {
        let shapes = |net: &TrainNet| -> Vec<[usize; 4]> {
            net.blocks.iter().map(|b| b.conv3.weight.dims()).collect()
        };
        let (mine, theirs) = (shapes(&self), shapes(donor));
        let body = mine.len() - 1;
        if mine.len() != theirs.len() || mine[..body] != theirs[..body] {
            return Err(crate::Error::Model(format!(
                "cannot initialise from a network of another shape ({theirs:?} vs {mine:?})"
            )));
        }
        self.blocks.splice(..body, donor.blocks[..body].iter().cloned());
        self.activations = donor.activations.clone();
        Ok(self)
    }

    /// Folds every block into a single 3×3 convolution: the deployed network.
    pub fn fuse(&self, device: &Device) -> Net {
        let convs = self
            .blocks
            .iter()
            .map(|block| {
                let (weight, bias) = block.kernel();
                let [o, i, _, _] = weight.dims();
                let mut fused = conv([i, o], 3, device);
                fused.weight = Param::from_tensor(weight.to_device(device));
                fused.bias = Some(Param::from_tensor(bias.to_device(device)));
                fused
            })
            .collect();
        Net {
            convs,
            activations: self
                .activations
                .iter()
                .map(|activation| activation.valid().to_device(device))
                .collect(),
            scale: self.scale,
        }
    }
}

#[cfg(test)]
mod tests {
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

    /// The composed kernel is the definition's sum of branches, biases included (the branch
    /// sum is what the block means; the fused kernel is how it is computed).
    #[test]
    fn block_kernel_equals_the_sum_of_its_branches() {
        use burn::tensor::Distribution;
        let device = Device::flex();
        device.seed(3);
        for (input, output) in [(3, 8), (8, 8), (8, 12)] {
            let mut block = RepBlock::new(input, output, 1.0, &device);
            for conv in [&mut block.conv3, &mut block.conv1, &mut block.expand, &mut block.expand3] {
                let [channels, ..] = conv.weight.dims();
                let bias = Tensor::random([channels], Distribution::Uniform(-1.0, 1.0), &device);
                conv.bias = Some(Param::from_tensor(bias));
            }
            let x = Tensor::<4>::random([2, input, 9, 11], Distribution::Default, &device);
            let inner = x.clone().slice(s![.., .., 1..8, 1..10]);
            let mut expected = block.conv3.forward(x.clone())
                + block.conv1.forward(inner.clone())
                + block.expand3.forward(block.expand.forward(x.clone()));
            if input == output {
                expected = expected + inner;
            }
            let difference = (block.forward(x) - expected).abs().max().into_scalar::<f32>();
            assert!(difference < 1e-5, "{input}→{output}: differs by {difference}");
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
            let planar: Vec<f32> = (0..3)
                .flat_map(|c| pixels.iter().skip(c).step_by(3).map(|&v| f32::from(v) / 255.0))
                .collect();
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
                        let theirs = expected
                            [((y + context * scale) * width * scale + x + context * scale) * 3 + c];
                        worst = worst.max((ours - f32::from(theirs)).abs());
                    }
                }
            }
            // MATLAB rounds to 8 bits between its two passes and at the end; we do not.
            assert!(worst <= 1.1, "×{scale}: differs from MATLAB bicubic by {worst}");
        }
    }
}
