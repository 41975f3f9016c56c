//! What training minimises. The benchmarks score luma only (`metrics`), and a network this small
//! has capacity to spare nowhere: a loss on luma spends it where the score and the eye are, while
//! a fraction of the RGB loss keeps the colours right.

use burn::prelude::*;

use crate::metrics::LUMA_WEIGHTS;

#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Loss {
    /// L1 on R, G and B alike.
    Rgb,
    /// L1 on BT.601 luma, plus [`Loss::RGB_SHARE`] of the RGB loss.
    Luma,
}

impl Loss {
    /// How much of the RGB loss the luma loss keeps: enough that chroma is still learnt, little
    /// enough that luma leads.
    pub const RGB_SHARE: f64 = 0.25;

    /// The loss of `output` against `target`, both `[N, 3, H, W]` in 0..1.
    pub fn compute(&self, output: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
        let difference = output - target;
        match self {
            Self::Rgb => difference.abs().mean(),
            Self::Luma => {
                let weights = Tensor::<1>::from_floats(LUMA_WEIGHTS.map(|w| (w / 255.0) as f32), &difference.device());
                let luma = (difference.clone() * weights.reshape([1, 3, 1, 1])).sum_dim(1);
                luma.abs().mean() + difference.abs().mean() * Self::RGB_SHARE
            }
        }
    }

    /// The same loss on the image's differences between horizontal and between vertical
    /// neighbours: how sharp the edges are and where. L1 on the pixels alone lets a small
    /// network soften its target's edges and fine texture, which no-reference scores punish.
    pub fn compute_edges(&self, output: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
        let [_, _, height, width] = output.dims();
        let across =
            |image: Tensor<4>| image.clone().slice(s![.., .., .., 1..]) - image.slice(s![.., .., .., ..width - 1]);
        let down =
            |image: Tensor<4>| image.clone().slice(s![.., .., 1.., ..]) - image.slice(s![.., .., ..height - 1, ..]);
        self.compute(across(output.clone()), across(target.clone())) + self.compute(down(output), down(target))
    }

    /// For the model card's training notes.
    pub fn describe(&self) -> String {
        match self {
            Self::Rgb => "L1".to_string(),
            Self::Luma => format!("L1 on luma + {} × L1 on RGB", Self::RGB_SHARE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loss_of(loss: Loss, rgb: [f32; 3]) -> f32 {
        let device = Device::flex();
        let target = Tensor::<4>::zeros([1, 3, 2, 2], &device);
        let output = target.clone() + Tensor::<1>::from_floats(rgb, &device).reshape([1, 3, 1, 1]);
        loss.compute(output, target).into_scalar::<f32>()
    }

    /// A shift of brightness costs the edge loss nothing; an edge made softer costs it the
    /// difference of the steps, on both axes.
    #[test]
    fn the_edge_loss_sees_steps_not_levels() {
        let device = Device::flex();
        let target = Tensor::<4>::from_floats([[[[0.0, 0.0, 1.0, 1.0]; 4]; 3]], &device);
        let brighter = target.clone() + 0.2;
        let edges = |output: Tensor<4>| Loss::Rgb.compute_edges(output, target.clone()).into_scalar::<f32>();
        assert!(edges(brighter) < 1e-6);
        // The step of 1 spread over two pixels: differences 0, ½, ½ instead of 0, 1, 0.
        let softer = Tensor::<4>::from_floats([[[[0.0, 0.0, 0.5, 1.0]; 4]; 3]], &device);
        assert!((edges(softer.clone()) - 1.0 / 3.0).abs() < 1e-6, "{}", edges(softer.clone()));
        // Turned by 90°, the same.
        let turned = |image: Tensor<4>| image.swap_dims(2, 3);
        let sideways = Loss::Rgb.compute_edges(turned(softer), turned(target.clone())).into_scalar::<f32>();
        assert!((sideways - 1.0 / 3.0).abs() < 1e-6);
    }

    /// A change of colour that leaves luma alone costs the luma loss only its RGB share, and a
    /// change of luma costs it in full; the RGB loss weighs both by their RGB distance.
    #[test]
    fn the_luma_loss_weighs_luma_errors_over_chroma_ones() {
        let [r, g, _] = LUMA_WEIGHTS;
        // Red up, green down by as much luma: same luma, 2 × 0.1 of RGB difference.
        let chroma = [0.1, (-0.1 * r / g) as f32, 0.0];
        let rgb_distance = (chroma.iter().map(|c| c.abs()).sum::<f32>()) / 3.0;
        assert!((loss_of(Loss::Rgb, chroma) - rgb_distance).abs() < 1e-6);
        assert!((loss_of(Loss::Luma, chroma) - Loss::RGB_SHARE as f32 * rgb_distance).abs() < 1e-6);
        // Grey up by 0.1: luma up by 0.1 × (sum of weights) / 255, RGB by 0.1.
        let luma = (0.1 * LUMA_WEIGHTS.iter().sum::<f64>() / 255.0) as f32;
        let expected = luma + Loss::RGB_SHARE as f32 * 0.1;
        assert!((loss_of(Loss::Luma, [0.1; 3]) - expected).abs() < 1e-6);
    }
}
