//! Compact models in ncnn's two files: a text graph (`.param`) and the weights (`.bin`), as
//! Upscayl and most model sites ship them. The graph is checked layer by layer against the
//! Compact shape, and the weight file's exact size is computed from the graph and compared
//! before anything is allocated from it.

use super::tensors::Float;
use super::{CompactModel, Layer, MAX_DEPTH, MAX_SCALE, MAX_WIDTH, invalid};
use crate::Result;

/// ncnn's tag before fp16 weights (`0x01306B47`, little-endian); 0 tags raw fp32.
const FP16_TAG: u32 = 0x0130_6B47;
/// The first line of every ncnn text graph.
pub(super) const PARAM_MAGIC: &str = "7767517";

/// Reads an ncnn model: `param` is the text graph, `bin` the weights (fp16 or fp32).
pub(super) fn read(param: &str, bin: &[u8]) -> Result<CompactModel> {
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
    CompactModel::from_layers(layers)
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
            Ok(Float::F16.read_all(bytes))
        } else {
            self.fp32(count)
        }
    }

    fn fp32(&mut self, count: usize) -> Result<Vec<f32>> {
        let bytes = self.take(4 * count)?;
        Ok(Float::F32.read_all(bytes))
    }
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
}
