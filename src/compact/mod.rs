//! Real-ESRGAN's compact architecture (SRVGGNetCompact, "Compact"): the shape of the community's
//! compact upscalers, which people bring as their own models, and of the teacher our enhanced
//! models are distilled from (`../shared/teachers`). Read from ncnn's `.param` + `.bin`
//! ([`ncnn`]), PyTorch's `.pth` ([`pth`]) or `.safetensors` ([`safetensors`]); the
//! architecture is recognised from the tensors, and anything else is refused saying why.
//!
//! The network: a 3×3 convolution from the input channels (RGB or grey) to `width`, a PReLU, then
//! `depth` × [3×3 convolution `width`→`width`, PReLU], a last 3×3 convolution to `channels·s²`,
//! a pixel shuffle, plus the input upsampled by nearest neighbour. Every convolution pads with
//! zeros (ours are valid; see `model`): tiles carry `depth + 2` pixels of border, zero outside
//! the image and kept zero after every layer ([`CompactNet::forward_tile`], `tiling::Border`).
//!
//! A model file is untrusted input: shapes are checked against the architecture and sizes are
//! checked against the file before anything is allocated from them.

use burn::prelude::*;
use burn::tensor::activation::prelu;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

use crate::model::pixel_shuffle;
use crate::tiling::Outside;
use crate::{Error, Result};

mod ncnn;
pub mod pth;
pub mod safetensors;
pub mod tensors;

use tensors::NamedTensor;

/// Upper bounds on what a model may claim, so that a hostile file cannot ask for an absurd
/// allocation: the widest and deepest published Compact models are 64 × 32.
const MAX_WIDTH: usize = 512;
const MAX_DEPTH: usize = 256;
const MAX_SCALE: usize = 8;

/// One 3×3 convolution (zero padding 1), with the PReLU slopes that follow it (none for the last).
#[derive(Clone, Debug)]
pub(crate) struct Layer {
    pub(crate) inputs: usize,
    pub(crate) outputs: usize,
    /// `[outputs, inputs, 3, 3]`, row-major (PyTorch's and ncnn's layout).
    pub(crate) weight: Vec<f32>,
    pub(crate) bias: Vec<f32>,
    pub(crate) slopes: Option<Vec<f32>>,
}

/// A Compact network's weights, checked against its architecture, on no device yet.
#[derive(Clone, Debug)]
pub struct CompactModel {
    /// Input (and output) colour channels: 3 for RGB, 1 for grey.
    pub channels: usize,
    /// Feature channels of the hidden layers.
    pub width: usize,
    /// Hidden `width`→`width` layers between the first and the last convolution.
    pub depth: usize,
    pub scale: usize,
    layers: Vec<Layer>,
}

/// The formats a Compact model is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Ncnn,
    Pth,
    Safetensors,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Ncnn => "ncnn",
            Format::Pth => "PyTorch .pth",
            Format::Safetensors => "safetensors",
        }
    }
}

impl CompactModel {
    /// Reads a model file named `name`, whatever its format (told by its bytes, not its name);
    /// an ncnn model is two files, the graph (`bytes`) and its `weights`.
    pub fn read(name: &str, bytes: &[u8], weights: Option<&[u8]>) -> Result<(Self, Format)> {
        let lower = name.to_lowercase();
        if bytes.starts_with(ncnn::PARAM_MAGIC.as_bytes()) {
            let weights = weights.ok_or_else(|| {
                invalid(format!("{name} is an ncnn graph: its weights, the .bin file of the same name, are needed too"))
            })?;
            let graph =
                std::str::from_utf8(bytes).map_err(|_| invalid(format!("{name}: the ncnn graph is not UTF-8 text")))?;
            return Ok((Self::from_ncnn(graph, weights)?, Format::Ncnn));
        }
        // A zip (current PyTorch) or a bare pickle (PyTorch before 1.6, refused by the reader).
        if bytes.starts_with(b"PK\x03\x04") || bytes.first() == Some(&0x80) {
            return Ok((Self::from_state_dict(pth::read(bytes)?)?, Format::Pth));
        }
        // safetensors: an 8-byte header length, then the JSON header.
        if bytes.get(8) == Some(&b'{') {
            return Ok((Self::from_state_dict(safetensors::read(bytes)?)?, Format::Safetensors));
        }
        let hint = if lower.ends_with(".bin") {
            "it looks like the weights half of an ncnn model: choose its .param file with it"
        } else if lower.ends_with(".onnx") {
            "ONNX models are not read: use the model's .pth or .safetensors"
        } else {
            "upres reads Compact (SRVGGNetCompact) models as .pth, .safetensors or ncnn .param + .bin"
        };
        Err(invalid(format!("{name} is not a model file upres reads: {hint}")))
    }

    /// Reads an ncnn model: `param` is the text graph, `bin` the weights (fp16 or fp32).
    pub fn from_ncnn(param: &str, bin: &[u8]) -> Result<Self> {
        ncnn::read(param, bin)
    }

    /// Recognises the architecture from a state dict's tensors, as `SRVGGNetCompact` names them
    /// (`body.0.weight` … `body.N.bias`, under any prefix such as `params_ema.`; Real-ESRGAN's
    /// files hold `params_ema` beside `params`, and its own code prefers it, as this does).
    pub fn from_state_dict(tensors: Vec<NamedTensor>) -> Result<Self> {
        let prefixes: Vec<&str> = tensors.iter().filter_map(|t| t.name.strip_suffix("body.0.weight")).collect();
        let Some(&prefix) = prefixes.iter().find(|p| p.starts_with("params_ema")).or(prefixes.first()) else {
            let names: Vec<&str> = tensors.iter().take(4).map(|t| t.name.as_str()).collect();
            return Err(invalid(format!(
                "not a Compact (SRVGGNetCompact) model: it has no body.0.weight (its tensors begin {names:?})"
            )));
        };
        let prefix = format!("{prefix}body.");
        let mut body: Vec<(usize, &str, &NamedTensor)> = Vec::new();
        for tensor in &tensors {
            let Some(rest) = tensor.name.strip_prefix(&prefix) else { continue };
            let parsed = rest.split_once('.').and_then(|(index, kind)| Some((index.parse::<usize>().ok()?, kind)));
            match parsed {
                Some((index, kind @ ("weight" | "bias"))) if index <= 2 * (MAX_DEPTH + 2) => {
                    body.push((index, kind, tensor))
                }
                _ => return Err(invalid(format!("not a Compact model: it has a tensor {}", tensor.name))),
            }
        }
        let find = |index: usize, kind: &str| body.iter().find(|(i, k, _)| *i == index && *k == kind).map(|t| t.2);
        let last = body.iter().map(|t| t.0).max().unwrap_or(0);
        let mut layers: Vec<Layer> = Vec::new();
        let mut index = 0;
        while index <= last {
            let (Some(weight), Some(bias)) = (find(index, "weight"), find(index, "bias")) else {
                return Err(invalid(format!(
                    "not a Compact model: body.{index} should be a convolution with a weight and a bias"
                )));
            };
            let &[outputs, inputs, 3, 3] = weight.shape.as_slice() else {
                return Err(invalid(format!(
                    "not a Compact model: body.{index}.weight has shape {:?}, not a 3×3 convolution's",
                    weight.shape
                )));
            };
            if bias.shape != [outputs] {
                return Err(invalid(format!("body.{index}.bias has shape {:?} for {outputs} outputs", bias.shape)));
            }
            let slopes = match find(index + 1, "weight") {
                Some(prelu) if prelu.shape == [1] || prelu.shape == [outputs] => {
                    // One slope for every channel (PyTorch's default) or one per channel.
                    Some((0..outputs).map(|c| prelu.values[c % prelu.values.len()]).collect())
                }
                Some(other) => {
                    return Err(invalid(format!(
                        "not a Compact model: body.{} has shape {:?} where a PReLU of {outputs} channels was expected",
                        index + 1,
                        other.shape
                    )));
                }
                None if index < last => {
                    return Err(invalid(format!(
                        "body.{} is an activation without parameters (ReLU or LeakyReLU): upres runs Compact models \
                         with PReLU activations, as Real-ESRGAN publishes them",
                        index + 1
                    )));
                }
                None => None,
            };
            index += if slopes.is_some() { 2 } else { 1 };
            layers.push(Layer { inputs, outputs, weight: weight.values.clone(), bias: bias.values.clone(), slopes });
        }
        Self::from_layers(layers)
    }

    /// The state dict, as `SRVGGNetCompact` names it: what [`safetensors::write`] stores.
    pub fn to_state_dict(&self) -> Vec<NamedTensor> {
        let mut tensors = Vec::with_capacity(3 * self.layers.len());
        for (position, layer) in self.layers.iter().enumerate() {
            let index = 2 * position;
            let shape = vec![layer.outputs, layer.inputs, 3, 3];
            tensors.push(NamedTensor { name: format!("body.{index}.weight"), shape, values: layer.weight.clone() });
            let bias = layer.bias.clone();
            tensors.push(NamedTensor { name: format!("body.{index}.bias"), shape: vec![layer.outputs], values: bias });
            if let Some(slopes) = &layer.slopes {
                let name = format!("body.{}.weight", index + 1);
                tensors.push(NamedTensor { name, shape: vec![layer.outputs], values: slopes.clone() });
            }
        }
        tensors
    }

    /// Checks a chain of layers against the Compact shape and names its dimensions.
    fn from_layers(layers: Vec<Layer>) -> Result<Self> {
        let (Some(first), Some(last)) = (layers.first(), layers.last()) else {
            return Err(invalid("not a Compact model: it has no convolution".into()));
        };
        let (channels, width) = (first.inputs, first.outputs);
        let depth = layers.len().saturating_sub(2);
        let scale = (1..=MAX_SCALE).find(|s| channels * s * s == last.outputs);
        let hidden = &layers[1..layers.len() - 1];
        let problem = if layers.len() < 2 {
            Some("it has fewer than two convolutions".to_owned())
        } else if !matches!(channels, 1 | 3) {
            Some(format!("it takes {channels} channels; Compact models take RGB (3) or grey (1)"))
        } else if width > MAX_WIDTH || depth > MAX_DEPTH {
            Some(format!("{width} channels × {depth} layers is beyond upres's limits ({MAX_WIDTH} × {MAX_DEPTH})"))
        } else if hidden.iter().any(|l| l.inputs != width || l.outputs != width) || last.inputs != width {
            Some(format!("its hidden layers are not all {width} channels wide"))
        } else if scale.is_none() {
            Some(format!(
                "its last layer gives {} channels, not {channels} × a scale² up to {MAX_SCALE}²",
                last.outputs
            ))
        } else if layers[..layers.len() - 1].iter().any(|l| l.slopes.is_none()) || last.slopes.is_some() {
            Some("a PReLU should follow every convolution but the last".to_owned())
        } else if layers.iter().any(|l| {
            l.weight.len() != l.outputs * l.inputs * 9
                || l.bias.len() != l.outputs
                || l.slopes.as_ref().is_some_and(|s| s.len() != l.outputs)
        }) {
            Some("a layer's tensors do not match its shape".to_owned())
        } else {
            None
        };
        match (problem, scale) {
            (None, Some(scale)) => Ok(Self { channels, width, depth, scale, layers }),
            (problem, _) => Err(invalid(format!("not a Compact model: {}", problem.unwrap_or_default()))),
        }
    }

    pub(crate) fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Parameters (weights, biases and PReLU slopes).
    pub fn parameters(&self) -> usize {
        self.layers.iter().map(|l| l.weight.len() + l.bias.len() + l.slopes.as_ref().map_or(0, Vec::len)).sum()
    }

    /// Multiply-adds per input pixel (the nearest-neighbour residual costs none).
    pub fn macs_per_input_pixel(&self) -> usize {
        self.layers.iter().map(|l| l.weight.len()).sum()
    }

    /// Pixels of input each output pixel depends on, on every side: one per 3×3 layer.
    pub fn context(&self) -> usize {
        self.layers.len()
    }

    /// The network's tensors on `device`, ready to run.
    pub fn load(&self, device: &Device) -> CompactNet {
        let layers = self
            .layers
            .iter()
            .map(|layer| LoadedLayer {
                weight: Tensor::from_data(
                    TensorData::new(layer.weight.clone(), [layer.outputs, layer.inputs, 3, 3]),
                    device,
                ),
                bias: Tensor::from_data(TensorData::new(layer.bias.clone(), [layer.outputs]), device),
                slopes: layer
                    .slopes
                    .as_ref()
                    .map(|slopes| Tensor::from_data(TensorData::new(slopes.clone(), [layer.outputs]), device)),
            })
            .collect();
        CompactNet { layers, channels: self.channels, scale: self.scale }
    }
}

#[derive(Clone, Debug)]
struct LoadedLayer {
    weight: Tensor<4>,
    bias: Tensor<1>,
    slopes: Option<Tensor<1>>,
}

/// A Compact network on a device.
#[derive(Clone, Debug)]
pub struct CompactNet {
    layers: Vec<LoadedLayer>,
    channels: usize,
    scale: usize,
}

impl CompactNet {
    /// `input`: `[N, channels, H, W]` in 0..1, a whole image; returns `[N, channels, s·H, s·W]`,
    /// not clamped.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let mut x = input.clone();
        for layer in &self.layers {
            x = self.layer(layer, x, 1);
        }
        self.add_nearest_and_shuffle(x, input)
    }

    /// One tile (see [`crate::tiling`]): `input` is `[1, 3, H, W]` with [`CompactModel::context`]
    /// pixels of border on each side, zero where `outside` says it is beyond the image; returns
    /// the interior, `[1, 3, s·(H − 2·context), s·(W − 2·context)]`, as the whole image would
    /// have it. A grey model runs on each colour as a grey image.
    pub fn forward_tile(&self, input: Tensor<4>, outside: Outside) -> Tensor<4> {
        let [_, colours, height, width] = input.dims();
        let input = input.reshape([colours / self.channels, self.channels, height, width]);
        // 1 over the image, 0 over the border beyond it: zero padding at the image's edge is
        // zeros there in every layer's input.
        let mask = (outside != Outside::default()).then(|| {
            let inside = |i: usize, before: usize, after: usize, len: usize| i >= before && i < len - after;
            let values: Vec<f32> = (0..height)
                .flat_map(|y| {
                    (0..width).map(move |x| {
                        let keep = inside(y, outside.top, outside.bottom, height)
                            && inside(x, outside.left, outside.right, width);
                        f32::from(u8::from(keep))
                    })
                })
                .collect();
            Tensor::<4>::from_data(TensorData::new(values, [1, 1, height, width]), &input.device())
        });
        let mut x = input.clone();
        for (index, layer) in self.layers.iter().enumerate() {
            x = self.layer(layer, x, 0);
            let eaten = index + 1;
            if let Some(mask) = &mask
                && layer.slopes.is_some()
            {
                x = x * mask.clone().slice(s![.., .., eaten..height - eaten, eaten..width - eaten]);
            }
        }
        let context = self.layers.len();
        let centre = input.slice(s![.., .., context..height - context, context..width - context]);
        let output = self.add_nearest_and_shuffle(x, centre);
        let [_, _, out_height, out_width] = output.dims();
        output.reshape([1, colours, out_height, out_width])
    }

    /// A 3×3 convolution with `padding` on every side, then its PReLU.
    fn layer(&self, layer: &LoadedLayer, x: Tensor<4>, padding: usize) -> Tensor<4> {
        let options = ConvOptions::new([1, 1], [padding, padding], [1, 1], 1);
        let x = conv2d(x, layer.weight.clone(), Some(layer.bias.clone()), options);
        match &layer.slopes {
            Some(slopes) => prelu(x, slopes.clone()),
            None => x,
        }
    }

    /// The nearest-neighbour residual adds each input pixel to every sub-pixel phase of its
    /// colour, so it joins before the shuffle.
    fn add_nearest_and_shuffle(&self, head: Tensor<4>, input: Tensor<4>) -> Tensor<4> {
        let [n, c, h, w] = input.dims();
        let phases = self.scale * self.scale;
        let base = input.reshape([n, c, 1, h, w]).repeat_dim(2, phases).reshape([n, c * phases, h, w]);
        pixel_shuffle(head + base, self.scale)
    }

    pub fn scale(&self) -> usize {
        self.scale
    }

    pub fn channels(&self) -> usize {
        self.channels
    }
}

fn invalid(message: String) -> Error {
    Error::Model(message)
}

/// Compact models for the tests of this crate.
#[cfg(test)]
pub(crate) mod testing {
    pub(crate) use super::ncnn::testing::{graph, weights};
    use super::*;

    /// The same model with its last layer silenced: a nearest-neighbour upscaler.
    pub(crate) fn nearest(channels: usize, width: usize, depth: usize, scale: usize) -> CompactModel {
        let mut bin = weights(channels, width, depth, scale, false);
        let last = channels * scale * scale;
        let len = bin.len();
        bin[len - 4 * (last * width * 9 + last)..].fill(0);
        CompactModel::from_ncnn(&graph(channels, width, depth, scale), &bin).expect("a valid model")
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{graph, weights};
    use super::*;

    #[test]
    fn reads_fp16_and_fp32_to_the_same_network() {
        for (channels, scale) in [(3, 4), (1, 2)] {
            let param = graph(channels, 8, 2, scale);
            let half = CompactModel::from_ncnn(&param, &weights(channels, 8, 2, scale, true)).unwrap();
            let full = CompactModel::from_ncnn(&param, &weights(channels, 8, 2, scale, false)).unwrap();
            assert_eq!((half.channels, half.width, half.depth, half.scale), (channels, 8, 2, scale));
            assert_eq!(half.context(), 4);
            assert_eq!(half.parameters(), full.parameters());
            for (a, b) in half.layers.iter().zip(&full.layers) {
                assert!(a.weight.iter().zip(&b.weight).all(|(x, y)| (x - y).abs() < 1e-4));
            }
        }
    }

    #[test]
    fn runs_at_its_scale_with_a_nearest_residual() {
        let model = CompactModel::from_ncnn(&graph(3, 8, 1, 2), &weights(3, 8, 1, 2, false)).unwrap();
        // With its last layer silenced, the output is the nearest upscale.
        let silent = super::testing::nearest(3, 8, 1, 2);
        assert_eq!(model.macs_per_input_pixel(), (3 * 8 + 8 * 8 + 8 * 12) * 9);

        let device = Device::flex();
        let pixels: Vec<f32> = (0..3 * 5 * 4).map(|i| i as f32 / 60.0).collect();
        let input = Tensor::<4>::from_data(TensorData::new(pixels.clone(), [1, 3, 4, 5]), &device);
        let output = silent.load(&device).forward(input).into_data().try_to_vec::<f32>().unwrap();
        for c in 0..3 {
            for y in 0..8 {
                for x in 0..10 {
                    assert_eq!(output[(c * 8 + y) * 10 + x], pixels[(c * 4 + y / 2) * 5 + x / 2]);
                }
            }
        }
    }

    #[test]
    fn refuses_truncated_and_other_files_saying_why() {
        let param = graph(3, 8, 2, 4);
        let bin = weights(3, 8, 2, 4, true);
        let message = |param: &str, bin: &[u8]| CompactModel::from_ncnn(param, bin).unwrap_err().to_string();

        assert!(message(&param, &bin[..bin.len() - 2]).contains("truncated"));
        assert!(message(&param, &bin[..3]).contains("truncated"));
        assert!(message(&param, &[bin.as_slice(), &[0; 8]].concat()).contains("truncated or belongs to another"));
        assert!(message("not a graph", &bin).contains("magic"));
        // Another architecture: a convolution with a 5×5 kernel, a ReLU instead of a PReLU.
        assert!(message(&param.replacen("1=3", "1=5", 1), &bin).contains("not a Compact"));
        assert!(
            message(&param.replace("PReLU act1 1 1 c1 a1 0=8", "ReLU act1 1 1 c1 a1"), &bin).contains("not a Compact")
        );
        // Bilinear instead of nearest residual; a scale the last layer does not give.
        assert!(
            message(&param.replace("Interp near 1 1 d0 base 0=1", "Interp near 1 1 d0 base 0=2"), &bin)
                .contains("nearest-neighbour")
        );
        let other_scale = param
            .replace("0=4\nInterp near 1 1 d0 base 0=1 1=4.0 2=4.0", "0=2\nInterp near 1 1 d0 base 0=1 1=2.0 2=2.0");
        assert!(message(&other_scale, &bin).contains("the last gives"));
        // A claim of 10⁹ weights is refused before anything is read or allocated.
        assert!(message(&param.replacen("6=216", "6=1000000000", 1), &bin).contains("do not fit"));
        assert!(message(&param.replacen("0=8 1=3", "0=100000 1=3", 1), &bin).contains("outside"));
        // An int8 tag.
        let mut int8 = bin.clone();
        int8[..4].copy_from_slice(&0x000D_4B38u32.to_le_bytes());
        assert!(message(&param, &int8).contains("int8"));
    }
}
