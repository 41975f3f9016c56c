//! A state dict as the model files of the community hold it: named tensors of `f32`, whatever
//! the file stored (fp16, bf16, fp32), read from PyTorch's `.pth` ([`pth`](super::pth)) or
//! `.safetensors` ([`safetensors`](super::safetensors)).

/// One named tensor of a state dict.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// The state dict's key, e.g. `body.0.weight`.
    pub name: String,
    pub shape: Vec<usize>,
    /// Row-major (C order), `shape.iter().product()` values.
    pub values: Vec<f32>,
}

/// The most values a model file may declare in all, before anything is allocated from it: 16 M
/// (64 MiB as `f32`), 13× the largest published Compact model (64 × 32, 1.2 M parameters).
pub const MAX_VALUES: usize = 16 << 20;
