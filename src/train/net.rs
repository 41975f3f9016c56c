//! The network as trained: each 3×3 layer of the deployed [`Net`] is a re-parameterisable block
//! (RepVGG/ECBSR style: 3×3 + 1×1 + 1×1→3×3 + identity), and [`TrainNet::fuse`] folds each block
//! into one 3×3 convolution, giving the deployed network.

use burn::module::Param;
use burn::nn::PRelu;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

use crate::model::{Net, NetConfig, conv, forward_chain, scaled_conv};

impl NetConfig {
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

    /// This block with every branch but the identity silenced: its kernel is the identity, and
    /// the gradient still reaches every branch (the expand branch through its second layer).
    fn into_identity(mut self) -> Self {
        assert!(self.identity, "an identity block needs as many outputs as inputs");
        for conv in [&mut self.conv3, &mut self.conv1, &mut self.expand3] {
            conv.weight = Param::from_tensor(conv.weight.val().zeros_like());
            conv.bias = conv.bias.take().map(|bias| Param::from_tensor(bias.val().zeros_like()));
        }
        self
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
        let centre =
            Tensor::<4>::from_data(TensorData::new(vec![0., 0., 0., 0., 1., 0., 0., 0., 0.], [1, 1, 3, 3]), &device);
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
        let expand_bias =
            expand3.sum_dim(3).sum_dim(2).reshape([o, m]).matmul(bias_of(&self.expand, m).reshape([m, 1])).reshape([o]);
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
    /// Hidden layers (all but the first and the last).
    pub fn blocks(&self) -> usize {
        self.blocks.len() - 2
    }

    /// Same contract as [`Net::forward`].
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        forward_chain(input, self.blocks.len(), &self.activations, self.scale, None, |index, x| {
            self.blocks[index].forward(x)
        })
    }

    /// Takes the layers of `donor`: all of them from the same architecture, every one but the
    /// last (which depends on the scale) from another scale. A donor of the same scale and width
    /// with fewer hidden layers gives all of its layers, and the extra ones start as identities
    /// (the block's kernel the identity, its PReLU slope 1), spread between the donor's hidden
    /// layers: the deeper network starts out computing exactly what the donor does.
    pub fn with_body_from(mut self, donor: &TrainNet) -> crate::Result<Self> {
        let shapes = |net: &TrainNet| -> Vec<[usize; 4]> { net.blocks.iter().map(|b| b.conv3.weight.dims()).collect() };
        let (mine, theirs) = (shapes(&self), shapes(donor));
        let mismatch = || {
            crate::Error::Model(format!("cannot initialise from a network of another shape ({theirs:?} vs {mine:?})"))
        };
        let hidden = |shapes: &[[usize; 4]]| shapes.len() - 2;
        if mine.len() > theirs.len() && theirs.len() > 2 {
            let same_ends = mine[0] == theirs[0] && mine.last() == theirs.last() && mine[1] == theirs[1];
            if !same_ends || self.scale != donor.scale {
                return Err(mismatch());
            }
            return Ok(self.deepened_from(donor, hidden(&mine) - hidden(&theirs)));
        }
        // Every layer from a donor of the same scale (fine-tuning); all but the last otherwise.
        let body = if mine == theirs { mine.len() } else { mine.len() - 1 };
        if mine.len() != theirs.len() || mine[..body] != theirs[..body] {
            return Err(mismatch());
        }
        self.blocks.splice(..body, donor.blocks[..body].iter().cloned());
        self.activations = donor.activations.clone();
        Ok(self)
    }

    /// The donor's layers with `extra` identity layers inserted after its hidden ones, as evenly
    /// as they go (the first hidden layers get one more when they do not divide).
    fn deepened_from(mut self, donor: &TrainNet, extra: usize) -> Self {
        let donor_hidden = donor.blocks.len() - 2;
        let last = donor.blocks.len() - 1;
        let device = donor.activations[0].alpha.val().device();
        let mut blocks = vec![donor.blocks[0].clone()];
        let mut activations = vec![donor.activations[0].clone()];
        for layer in 1..last {
            blocks.push(donor.blocks[layer].clone());
            activations.push(donor.activations[layer].clone());
            let inserted = extra / donor_hidden + usize::from(layer - 1 < extra % donor_hidden);
            for _ in 0..inserted {
                let template = &self.blocks[layer];
                blocks.push(template.clone().into_identity());
                let mut activation = self.activations[layer].clone();
                let [channels] = activation.alpha.dims();
                activation.alpha = Param::from_tensor(Tensor::ones([channels], &device));
                activations.push(activation);
            }
        }
        blocks.push(donor.blocks[last].clone());
        self.blocks = blocks;
        self.activations = activations;
        self
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
            activations: self.activations.iter().map(|activation| activation.valid().to_device(device)).collect(),
            scale: self.scale,
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Param;
    use burn::prelude::*;

    use super::*;

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

    /// A deeper network initialised from a shallower one computes the same upscale (on the
    /// centre its larger context leaves): the inserted layers are identities.
    #[test]
    fn a_deepened_network_starts_as_its_donor() {
        use burn::tensor::Distribution;
        let device = Device::flex();
        device.seed(5);
        let shallow = NetConfig { scale: 2, channels: 8, blocks: 2 };
        let mut donor = shallow.init_train(&device);
        for activation in &mut donor.activations {
            activation.alpha = Param::from_tensor(Tensor::random([8], Distribution::Uniform(-0.5, 0.5), &device));
        }
        let deep = NetConfig { blocks: 5, ..shallow };
        let deepened = deep.init_train(&device).with_body_from(&donor).expect("same scale and width");
        let x = Tensor::<4>::random([1, 3, 24, 24], Distribution::Default, &device);
        let crop = 2 * (deep.context() - shallow.context());
        let expected = donor.forward(x.clone());
        let [_, _, side, _] = expected.dims();
        let expected = expected.slice(s![.., .., crop..side - crop, crop..side - crop]);
        let difference = (deepened.forward(x) - expected).abs().max().into_scalar::<f32>();
        assert!(difference < 1e-4, "differs by {difference}");
        assert!(NetConfig { channels: 12, ..deep }.init_train(&device).with_body_from(&donor).is_err());
    }
}
