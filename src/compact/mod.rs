//! Real-ESRGAN's compact architecture (SRVGGNetCompact, "Compact"), read from ncnn files: the
//! shape of the community's compact upscalers and of the teacher our enhanced models are
//! distilled from (`../shared/teachers`).
//!
//! The network: a 3×3 convolution from the input channels (RGB or grey) to `width`, a PReLU, then
//! `depth` × [3×3 convolution `width`→`width`, PReLU], a last 3×3 convolution to `channels·s²`,
//! a pixel shuffle, plus the input upsampled by nearest neighbour. Every convolution pads with
//! zeros (ours are valid; see `model`), so a tile's result depends on the tile's edges: this
//! runs whole images, and tiling it needs an overlap of `depth + 2` pixels.
//!
//! A model file is untrusted input: the graph is checked layer by layer against that shape, and
//! the weight file's exact size is computed from the graph and compared before anything is
//! allocated from it.

use burn::prelude::*;
use burn::tensor::activation::prelu;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

use crate::model::pixel_shuffle;
use crate::{Error, Result};

pub mod pth;
pub mod safetensors;
pub mod tensors;

/// Upper bounds on what a graph may claim, so that a hostile file cannot ask for an absurd
/// allocation: the widest and deepest published Compact models are 64 × 32.
const MAX_WIDTH: usize = 512;
const MAX_DEPTH: usize = 256;
const MAX_SCALE: usize = 8;
/// ncnn's tag before fp16 weights (`0x01306B47`, little-endian); 0 tags raw fp32.
const FP16_TAG: u32 = 0x0130_6B47;
/// The first line of every ncnn text graph.
const PARAM_MAGIC: &str = "7767517";

/// One 3×3 convolution (zero padding 1), with the PReLU slopes that follow it (none for the last).
#[derive(Clone, Debug)]
struct Layer {
    inputs: usize,
    outputs: usize,
    /// `[outputs, inputs, 3, 3]`, row-major (PyTorch's and ncnn's layout).
    weight: Vec<f32>,
    bias: Vec<f32>,
    slopes: Option<Vec<f32>>,
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

impl CompactModel {
    /// Reads an ncnn model: `param` is the text graph, `bin` the weights (fp16 or fp32).
    pub fn from_ncnn(param: &str, bin: &[u8]) -> Result<Self> {
        let graph = parse_graph(param)?;
        let shape = Shape::of(&graph)?;
        let expected = shape.ncnn_bytes(bin)?;
        if bin.len() != expected {
            return Err(invalid(format!(
                "the weights file holds {} bytes, but the graph ({} × {} layers of {} channels, ×{}) needs exactly \
                 {expected}: it is truncated or belongs to another model",
                bin.len(),
                shape.depth,
                shape.width,
                shape.width,
                shape.scale
            )));
        }
        let mut reader = NcnnReader { bin, at: 0 };
        let layers = shape
            .layer_channels()
            .iter()
            .enumerate()
            .map(|(index, &[inputs, outputs])| {
                let weight = reader.tagged(outputs * inputs * 9)?;
                let bias = reader.fp32(outputs)?;
                let slopes = if index <= shape.depth { Some(reader.fp32(outputs)?) } else { None };
                Ok(Layer { inputs, outputs, weight, bias, slopes })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { channels: shape.channels, width: shape.width, depth: shape.depth, scale: shape.scale, layers })
    }

    /// Parameters (weights, biases and PReLU slopes).
    pub fn parameters(&self) -> usize {
        self.layers.iter().map(|l| l.weight.len() + l.bias.len() + l.slopes.as_ref().map_or(0, Vec::len)).sum()
    }

    /// Multiply-adds per input pixel.
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
    /// `input`: `[N, channels, H, W]` in 0..1; returns `[N, channels, s·H, s·W]`, not clamped.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let mut x = input.clone();
        for layer in &self.layers {
            x = conv2d(x, layer.weight.clone(), Some(layer.bias.clone()), ConvOptions::new([1, 1], [1, 1], [1, 1], 1));
            if let Some(slopes) = &layer.slopes {
                x = prelu(x, slopes.clone());
            }
        }
        // The nearest-neighbour residual adds each input pixel to every sub-pixel phase of its
        // colour, so it joins before the shuffle.
        let [n, c, h, w] = input.dims();
        let phases = self.scale * self.scale;
        let base = input.reshape([n, c, 1, h, w]).repeat_dim(2, phases).reshape([n, c * phases, h, w]);
        pixel_shuffle(x + base, self.scale)
    }

    pub fn scale(&self) -> usize {
        self.scale
    }

    pub fn channels(&self) -> usize {
        self.channels
    }
}

/// One line of an ncnn graph: `Type name inputs outputs bottom… top… key=value…`.
#[derive(Debug)]
struct NcnnLayer {
    kind: String,
    name: String,
    bottoms: Vec<String>,
    tops: Vec<String>,
    params: Vec<(i32, String)>,
}

impl NcnnLayer {
    /// Integer parameter `key`, or `default` when absent.
    fn int(&self, key: i32, default: i64) -> Result<i64> {
        match self.params.iter().find(|(k, _)| *k == key) {
            None => Ok(default),
            Some((_, value)) => value
                .parse()
                .map_err(|_| invalid(format!("layer {}: parameter {key}={value} is not an integer", self.name))),
        }
    }

    /// Integer parameter `key` as a count in `1..=max`.
    fn count(&self, key: i32, max: usize) -> Result<usize> {
        let value = self.int(key, 0)?;
        usize::try_from(value)
            .ok()
            .filter(|v| (1..=max).contains(v))
            .ok_or_else(|| invalid(format!("layer {}: parameter {key}={value} is outside 1..={max}", self.name)))
    }
}

fn parse_graph(param: &str) -> Result<Vec<NcnnLayer>> {
    let mut lines = param.lines().map(str::trim).filter(|line| !line.is_empty());
    if lines.next() != Some(PARAM_MAGIC) {
        return Err(invalid(format!("the graph does not start with ncnn's magic number {PARAM_MAGIC}")));
    }
    let counts = lines.next().ok_or_else(|| invalid("the graph ends before its layer count".into()))?;
    let declared: usize = counts
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .filter(|&n| n <= 4 * MAX_DEPTH + 16)
        .ok_or_else(|| invalid(format!("implausible layer count line {counts:?}")))?;
    let layers = lines.map(parse_layer).collect::<Result<Vec<_>>>()?;
    if layers.len() != declared {
        return Err(invalid(format!("the graph declares {declared} layers but lists {}", layers.len())));
    }
    Ok(layers)
}

fn parse_layer(line: &str) -> Result<NcnnLayer> {
    let mut words = line.split_whitespace();
    let mut word = |what: &str| words.next().ok_or_else(|| invalid(format!("layer line {line:?} lacks its {what}")));
    let kind = word("type")?.to_owned();
    let name = word("name")?.to_owned();
    let count = |text: &str| text.parse::<usize>().ok().filter(|&n| n <= 16);
    let (Some(inputs), Some(outputs)) = (count(word("input count")?), count(word("output count")?)) else {
        return Err(invalid(format!("layer {name}: implausible input or output count")));
    };
    let bottoms = (0..inputs).map(|_| word("inputs").map(str::to_owned)).collect::<Result<_>>()?;
    let tops = (0..outputs).map(|_| word("outputs").map(str::to_owned)).collect::<Result<_>>()?;
    let params = words
        .map(|pair| {
            pair.split_once('=')
                .and_then(|(key, value)| Some((key.parse().ok()?, value.to_owned())))
                .ok_or_else(|| invalid(format!("layer {name}: parameter {pair:?} is not KEY=VALUE")))
        })
        .collect::<Result<_>>()?;
    Ok(NcnnLayer { kind, name, bottoms, tops, params })
}

/// The architecture a graph describes, once it is known to be a Compact chain.
#[derive(Debug)]
struct Shape {
    channels: usize,
    width: usize,
    depth: usize,
    scale: usize,
}

impl Shape {
    /// Walks the graph: Input, an optional Split, Convolution + PReLU pairs, the last
    /// Convolution, PixelShuffle, nearest Interp of the input by the same scale, and their sum.
    fn of(graph: &[NcnnLayer]) -> Result<Self> {
        let mut layers = graph.iter().filter(|layer| layer.kind != "Split").peekable();
        let refuse = |what: &str, layer: Option<&NcnnLayer>| {
            let found = layer.map_or("the end of the graph".to_owned(), |l| format!("{} {}", l.kind, l.name));
            invalid(format!(
                "not a Compact (SRVGGNetCompact) model: expected {what}, found {found}; only chains of 3×3 \
                 convolutions and PReLUs with a pixel shuffle and a nearest-neighbour residual are supported"
            ))
        };
        let expect = |layer: Option<&NcnnLayer>, kind: &str| match layer {
            Some(l) if l.kind == kind => Ok(()),
            other => Err(refuse(kind, other)),
        };
        let input = layers.next();
        expect(input, "Input")?;
        let mut convs: Vec<[usize; 2]> = Vec::new();
        let mut prelus = 0;
        let mut previous = None;
        while let Some(layer) = layers.next_if(|l| l.kind == "Convolution") {
            let outputs = layer.count(0, MAX_WIDTH)?;
            let kernel = layer.int(1, 0)?;
            let (dilation, stride, pad, bias) =
                (layer.int(2, 1)?, layer.int(3, 1)?, layer.int(4, 0)?, layer.int(5, 0)?);
            if kernel != 3 || dilation != 1 || stride != 1 || pad != 1 || bias != 1 {
                return Err(refuse("a 3×3 convolution with padding 1, stride 1 and a bias", Some(layer)));
            }
            let weights = layer.int(6, 0)?;
            let per_input = 9 * outputs as i64;
            if weights <= 0 || weights % per_input != 0 || weights / per_input > MAX_WIDTH as i64 {
                return Err(invalid(format!("layer {}: {weights} weights do not fit {outputs} outputs", layer.name)));
            }
            let inputs = (weights / per_input) as usize;
            if previous.is_some_and(|p| p != inputs) {
                return Err(invalid(format!(
                    "layer {}: takes {inputs} channels but the layer before gives {}",
                    layer.name,
                    previous.unwrap_or_default()
                )));
            }
            convs.push([inputs, outputs]);
            previous = Some(outputs);
            if let Some(activation) = layers.next_if(|l| l.kind == "PReLU") {
                let slopes = activation.count(0, MAX_WIDTH)?;
                if slopes != outputs {
                    return Err(invalid(format!("layer {}: {slopes} slopes for {outputs} channels", activation.name)));
                }
                prelus += 1;
            } else {
                break;
            }
        }
        let shuffle = layers.next();
        expect(shuffle, "PixelShuffle")?;
        let shuffle = shuffle.ok_or_else(|| refuse("PixelShuffle", None))?;
        let scale = shuffle.count(0, MAX_SCALE)?;
        let interp = layers.next();
        expect(interp, "Interp")?;
        if let Some(interp) = interp {
            let factor = |key| interp.params.iter().find(|(k, _)| *k == key).and_then(|(_, v)| v.parse::<f64>().ok());
            if interp.int(0, 0)? != 1 || factor(1) != Some(scale as f64) || factor(2) != Some(scale as f64) {
                return Err(refuse(&format!("a nearest-neighbour ×{scale} upsampling of the input"), Some(interp)));
            }
        }
        let sum = layers.next();
        expect(sum, "BinaryOp")?;
        if let Some(sum) = sum
            && (sum.int(0, 0)? != 0 || sum.bottoms.len() != 2)
        {
            return Err(refuse("the sum of the shuffled output and the upsampled input", Some(sum)));
        }
        if let Some(extra) = layers.next() {
            return Err(refuse("nothing after the residual sum", Some(extra)));
        }
        if let Some(out) = input.and_then(|i| i.tops.first())
            && !graph.iter().any(|l| l.bottoms.contains(out))
        {
            return Err(invalid("the input feeds no layer".into()));
        }

        let (Some(&[channels, width]), Some(&[_, last])) = (convs.first(), convs.last()) else {
            return Err(refuse("a convolution", None));
        };
        let depth = convs.len().saturating_sub(2);
        if convs.len() < 2 || prelus != convs.len() - 1 || depth > MAX_DEPTH || !matches!(channels, 1 | 3) {
            return Err(invalid(format!(
                "implausible Compact shape: {} convolutions, {prelus} PReLUs, {channels} input channels",
                convs.len()
            )));
        }
        if convs[1..convs.len() - 1].iter().any(|&[i, o]| i != width || o != width) || last != channels * scale * scale
        {
            return Err(invalid(format!(
                "the hidden layers are not all {width} channels wide, or the last gives {last} channels rather than \
                 {channels} × {scale}²"
            )));
        }
        Ok(Self { channels, width, depth, scale })
    }

    fn layer_channels(&self) -> Vec<[usize; 2]> {
        std::iter::once([self.channels, self.width])
            .chain(std::iter::repeat_n([self.width, self.width], self.depth))
            .chain(std::iter::once([self.width, self.channels * self.scale * self.scale]))
            .collect()
    }

    /// The exact size of the weight file, read from each convolution's tag (fp16 or fp32) as far
    /// as the bytes go; a file too short to hold a tag is refused later by the size comparison.
    fn ncnn_bytes(&self, bin: &[u8]) -> Result<usize> {
        let mut at = 0usize;
        for (index, [inputs, outputs]) in self.layer_channels().into_iter().enumerate() {
            let weights = outputs * inputs * 9;
            let element = match read_u32(bin, at) {
                Some(FP16_TAG) => 2,
                Some(0) | None => 4,
                Some(tag) => {
                    return Err(invalid(format!(
                        "convolution {index}: weight tag {tag:#010x} is neither fp16 nor fp32 (int8 models are not \
                         supported)"
                    )));
                }
            };
            let slopes = if index <= self.depth { outputs } else { 0 };
            at += 4 + weights * element + 4 * outputs + 4 * slopes;
        }
        Ok(at)
    }
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    bytes.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads ncnn weights in the order the layers use them; sizes were checked beforehand.
struct NcnnReader<'a> {
    bin: &'a [u8],
    at: usize,
}

impl NcnnReader<'_> {
    fn take(&mut self, bytes: usize) -> Result<&[u8]> {
        let slice = self
            .bin
            .get(self.at..self.at + bytes)
            .ok_or_else(|| invalid(format!("the weights file ends at byte {}", self.bin.len())))?;
        self.at += bytes;
        Ok(slice)
    }

    /// Weights behind a 4-byte tag: fp16 or raw fp32.
    fn tagged(&mut self, count: usize) -> Result<Vec<f32>> {
        let tag = self.take(4)?;
        if u32::from_le_bytes([tag[0], tag[1], tag[2], tag[3]]) == FP16_TAG {
            let bytes = self.take(2 * count)?;
            Ok(bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect())
        } else {
            self.fp32(count)
        }
    }

    fn fp32(&mut self, count: usize) -> Result<Vec<f32>> {
        let bytes = self.take(4 * count)?;
        Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }
}

fn invalid(message: String) -> Error {
    Error::Model(message)
}

/// Compact models written as ncnn files, for the tests of this crate.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A Compact graph in ncnn's text form.
    pub(crate) fn graph(channels: usize, width: usize, depth: usize, scale: usize) -> String {
        let mut lines = vec!["Input in 0 1 data".to_owned(), "Split split 1 2 data d0 d1".to_owned()];
        let mut previous = "d1".to_owned();
        let mut inputs = channels;
        for index in 0..=depth {
            lines.push(format!(
                "Convolution conv{index} 1 1 {previous} c{index} 0={width} 1=3 4=1 5=1 6={}",
                width * inputs * 9
            ));
            lines.push(format!("PReLU act{index} 1 1 c{index} a{index} 0={width}"));
            previous = format!("a{index}");
            inputs = width;
        }
        let last = channels * scale * scale;
        lines.push(format!("Convolution last 1 1 {previous} head 0={last} 1=3 4=1 5=1 6={}", last * width * 9));
        lines.push(format!("PixelShuffle shuffle 1 1 head up 0={scale}"));
        lines.push(format!("Interp near 1 1 d0 base 0=1 1={scale}.0 2={scale}.0"));
        lines.push("BinaryOp add 2 1 up base output".to_owned());
        format!("{PARAM_MAGIC}\n{} {}\n{}\n", lines.len(), lines.len() + 1, lines.join("\n"))
    }

    /// Weights for `graph`, fp16 or fp32, from a simple formula.
    pub(crate) fn weights(channels: usize, width: usize, depth: usize, scale: usize, fp16: bool) -> Vec<u8> {
        let shape = Shape { channels, width, depth, scale };
        let mut bin = Vec::new();
        for (index, [inputs, outputs]) in shape.layer_channels().into_iter().enumerate() {
            let value = |i: usize| ((i % 7) as f32 - 3.0) * 0.01;
            if fp16 {
                bin.extend(FP16_TAG.to_le_bytes());
                (0..outputs * inputs * 9).for_each(|i| bin.extend(half::f16::from_f32(value(i)).to_le_bytes()));
            } else {
                bin.extend(0u32.to_le_bytes());
                (0..outputs * inputs * 9).for_each(|i| bin.extend(value(i).to_le_bytes()));
            }
            (0..outputs).for_each(|i| bin.extend(value(i + 1).to_le_bytes()));
            if index <= depth {
                (0..outputs).for_each(|_| bin.extend(0.2f32.to_le_bytes()));
            }
        }
        bin
    }

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
