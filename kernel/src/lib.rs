//! upres's one convolution kernel (its engine, `src/engine/`, packs the weights and drives it),
//! a crate of its own so that it is compiled optimised and without debug assertions in every
//! profile, the development one included (see upres's `Cargo.toml`). Written once over a SIMD
//! vector type ([`Lanes`]) and compiled for the instruction set this machine has ([`Isa`]): AVX2
//! with FMA on x86-64 (detected at run time, since the CLI is built for baseline x86-64),
//! simd128 in the browser (chosen at build time: `.cargo/config.toml` turns it on for wasm32),
//! plain arrays that LLVM vectorises elsewhere.
//!
//! Two kernels on pixel-major activations (each pixel's channels together), each layer packed
//! for one of them ([`Form`]). The direct convolution: each step of the innermost loop
//! broadcasts one input channel of [`PIXELS`] neighbouring pixels and multiplies it into
//! [`VECTORS`] vectors of packed weights, so that `PIXELS × VECTORS` accumulators stay in
//! registers for a whole `k × k × inputs` sum. The bias starts the sum and the PReLU is applied
//! before the single store, so a layer's output is written once. Winograd's F(4×4, 3×3)
//! ([`winograd`]) runs the 3×3 layers with a quarter of the products, through the same register
//! blocking.

mod winograd;

/// Output pixels computed together along a row; each layer computes whole groups of them, so
/// activation rows are padded to a multiple (the padding is never read back into real pixels).
/// Natively 6: with [`VECTORS`], 12 accumulators, 2 weight vectors and a broadcast fill AVX2's 16
/// registers without spilling.
#[cfg(not(target_arch = "wasm32"))]
pub const PIXELS: usize = 6;
/// In WebAssembly 4: V8 keeps one of x86's 16 vector registers for itself and needs another for
/// each product (simd128 has no fused multiply-add), so 12 accumulators spilled. A 32 → 32
/// channel layer on 128 × 64 pixels in Chromium 156: 20–33 GFLOP/s at 4 against 16–20 at 6.
#[cfg(target_arch = "wasm32")]
pub const PIXELS: usize = 4;
/// Vectors of output channels computed together.
pub const VECTORS: usize = 2;
/// Output rows the Winograd kernel computes together: bands of a layer's rows are best cut at
/// multiples of it.
pub const TILE_ROWS: usize = winograd::OUT;

/// A SIMD vector of `f32`.
pub trait Lanes: Copy {
    const WIDTH: usize;
    /// # Safety
    /// `ptr` is valid for reading `WIDTH` floats.
    unsafe fn load(ptr: *const f32) -> Self;
    /// # Safety
    /// `ptr` is valid for writing `WIDTH` floats.
    unsafe fn store(self, ptr: *mut f32);
    fn splat(value: f32) -> Self;
    fn add(self, other: Self) -> Self;
    fn sub(self, other: Self) -> Self;
    fn mul(self, other: Self) -> Self;
    /// `self + a · b`.
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// `max(self, 0) + slope · min(self, 0)`.
    fn prelu(self, slope: Self) -> Self;
}

/// The instruction set the kernel runs with, fixed when a network is packed (the packing's
/// block width depends on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    Simd128,
    Portable,
}

impl Isa {
    /// The best this machine runs.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return Isa::Avx2;
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        return Isa::Simd128;
        #[allow(unreachable_code)]
        Isa::Portable
    }

    pub fn name(self) -> &'static str {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => "AVX2+FMA",
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Isa::Simd128 => "wasm simd128",
            Isa::Portable => "portable",
        }
    }

    /// Output channels per packed block: [`VECTORS`] vectors.
    pub fn block(self) -> usize {
        VECTORS * self.lanes()
    }

    /// Floats per vector.
    fn lanes(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => avx2::Avx2::WIDTH,
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Isa::Simd128 => simd128::Simd128::WIDTH,
            Isa::Portable => Portable::WIDTH,
        }
    }
}

/// How a layer's weights are packed, and so which kernel runs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// `[block][ty][tx][input][channel of the block]`.
    Direct,
    /// [`winograd::pack`]'s transformed 3×3 weights, `[block][point][input][channel of the block]`.
    Winograd,
}

impl Form {
    /// Winograd for 3×3 layers whose inputs fill whole vectors (its input transform works on
    /// vectors of channels); direct for the rest: the first layer's colours, the 5×5 residual.
    pub fn choose(isa: Isa, inputs: usize, taps: usize) -> Self {
        if taps == 3 && inputs.is_multiple_of(isa.lanes()) { Form::Winograd } else { Form::Direct }
    }
}

/// A layer's weights (`[outputs][inputs][taps][taps]`, as burn and PyTorch hold them) packed for
/// `form`'s kernel, the outputs padded to whole blocks of `isa` with zeros.
pub fn pack(isa: Isa, form: Form, weight: &[f32], [inputs, outputs]: [usize; 2], taps: usize) -> Vec<f32> {
    let block = isa.block();
    match form {
        Form::Winograd => {
            assert_eq!(taps, 3, "Winograd's F(4×4, 3×3) is for 3×3 layers");
            winograd::pack(weight, inputs, outputs, block)
        }
        Form::Direct => {
            let padded = outputs.next_multiple_of(block);
            let mut packed = vec![0.0; padded * taps * taps * inputs];
            let mut at = 0;
            for first in (0..padded).step_by(block) {
                for tap in 0..taps * taps {
                    for input in 0..inputs {
                        for output in (first..first + block).filter(|&o| o < outputs) {
                            packed[at + output - first] = weight[(output * inputs + input) * taps * taps + tap];
                        }
                        at += block;
                    }
                }
            }
            packed
        }
    }
}

/// A layer's weights as the engine packed them.
#[derive(Clone, Copy, Debug)]
pub struct Layer<'a> {
    pub inputs: usize,
    /// Kernel side (3, or 5 for the bicubic residual).
    pub taps: usize,
    /// Output channels per block: [`Isa::block`].
    pub block: usize,
    pub blocks: usize,
    pub form: Form,
    /// As [`pack`] made them for `form`.
    pub weights: &'a [f32],
    /// Per packed output channel.
    pub bias: &'a [f32],
    pub slopes: Option<&'a [f32]>,
    /// Adds to what the output holds, rather than starting from the bias.
    pub accumulate: bool,
}

impl Layer<'_> {
    /// Floats per output pixel: the output channels padded to whole blocks.
    pub fn pixel(&self) -> usize {
        self.blocks * self.block
    }
}

/// One layer applied to some rows: where its input is and how it is laid out.
#[derive(Clone, Copy)]
pub struct Conv<'a> {
    pub layer: Layer<'a>,
    /// Pixel-major activations, `pixel` floats per pixel, `row` pixels per row; output row `y`
    /// reads input rows `y..y + k`.
    pub input: &'a [f32],
    pub pixel: usize,
    pub row: usize,
    /// Output pixels computed per row: a multiple of [`PIXELS`], at most `row − k + 1`.
    pub columns: usize,
}

/// Output rows `first..first + out.len() / (row · layer.pixel())` of `conv`, into `out` (the same
/// `row` pixels per row, `layer.pixel()` floats per pixel).
pub fn run(isa: Isa, conv: &Conv, out: &mut [f32], first: usize) {
    let layer = conv.layer;
    let out_row = conv.row * layer.pixel();
    let rows = out.len() / out_row;
    assert_eq!(conv.columns % PIXELS, 0, "columns in whole groups");
    assert!(conv.columns + layer.taps - 1 <= conv.row, "the taps of the last column stay in the row");
    assert!(layer.inputs <= conv.pixel, "the input has the channels the layer reads");
    let last_read = ((first + rows + layer.taps - 1) * conv.row) * conv.pixel;
    assert!(rows == 0 || last_read <= conv.input.len(), "the input holds every row the output reads");
    let points = match layer.form {
        Form::Direct => layer.taps * layer.taps,
        Form::Winograd => {
            assert!(layer.taps == 3 && !layer.accumulate, "Winograd runs 3×3 layers that start from their bias");
            assert!(layer.inputs.is_multiple_of(isa.lanes()), "Winograd's inputs fill whole vectors");
            winograd::POINTS
        }
    };
    assert_eq!(layer.weights.len(), layer.blocks * points * layer.inputs * layer.block);
    assert!(layer.bias.len() >= layer.pixel() && layer.slopes.is_none_or(|slopes| slopes.len() >= layer.pixel()));
    match isa {
        // SAFETY: `Isa::Avx2` is only chosen where the CPU has AVX2 and FMA (`Isa::detect`).
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { avx2::rows(conv, out, first, rows) },
        // SAFETY: the bounds were checked above.
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Isa::Simd128 => unsafe { by_form::<simd128::Simd128>(conv, out, first, rows) },
        // SAFETY: the bounds were checked above.
        Isa::Portable => unsafe { by_form::<Portable>(conv, out, first, rows) },
    }
}

/// The rows, by the kernel of the layer's form.
///
/// # Safety
/// The bounds [`run`] checks hold, and `L`'s instructions exist on this CPU.
#[inline(always)]
unsafe fn by_form<L: Lanes>(conv: &Conv, out: &mut [f32], first: usize, rows: usize) {
    // SAFETY: the caller's promise.
    unsafe {
        match conv.layer.form {
            Form::Direct => conv_rows::<L>(conv, out, first, rows),
            Form::Winograd => winograd::conv_rows::<L>(conv, out, first, rows),
        }
    }
}

/// # Safety
/// The bounds [`run`] checks hold, and `L`'s instructions exist on this CPU.
#[inline(always)]
unsafe fn conv_rows<L: Lanes>(conv: &Conv, out: &mut [f32], first: usize, rows: usize) {
    let layer = conv.layer;
    let (taps, inputs, block, pixel) = (layer.taps, layer.inputs, layer.block, conv.pixel);
    debug_assert_eq!(block, VECTORS * L::WIDTH);
    let out_pixel = layer.pixel();
    let per_block = taps * taps * inputs * block;
    let input = conv.input.as_ptr();
    let output = out.as_mut_ptr();
    // SAFETY (for the whole body): every input read is at most at pixel
    // `(first + rows − 1 + taps − 1) · row + columns − 1 + taps − 1` of the input, channel
    // `inputs − 1 < pixel`, which `run` checked is inside it; every output access is inside
    // `rows` rows of `out`; weights, bias and slopes are read within their packed lengths.
    unsafe {
        for r in 0..rows {
            for b in 0..layer.blocks {
                let weights = layer.weights.as_ptr().add(b * per_block);
                let bias: [L; VECTORS] =
                    std::array::from_fn(|v| L::load(layer.bias.as_ptr().add(b * block + v * L::WIDTH)));
                for x in (0..conv.columns).step_by(PIXELS) {
                    let source = input.add(((first + r) * conv.row + x) * pixel);
                    let target = output.add((r * conv.row + x) * out_pixel + b * block);
                    let mut sums: [[L; VECTORS]; PIXELS] = if layer.accumulate {
                        std::array::from_fn(|p| {
                            std::array::from_fn(|v| L::load(target.add(p * out_pixel + v * L::WIDTH)))
                        })
                    } else {
                        [bias; PIXELS]
                    };
                    let mut w = weights;
                    for ty in 0..taps {
                        for tx in 0..taps {
                            let tap = source.add((ty * conv.row + tx) * pixel);
                            accumulate(&mut sums, w, (tap, pixel), inputs, block);
                            w = w.add(inputs * block);
                        }
                    }
                    if let Some(slopes) = layer.slopes {
                        let slopes: [L; VECTORS] =
                            std::array::from_fn(|v| L::load(slopes.as_ptr().add(b * block + v * L::WIDTH)));
                        for sum in &mut sums {
                            for (s, &slope) in sum.iter_mut().zip(&slopes) {
                                *s = s.prelu(slope);
                            }
                        }
                    }
                    for (p, sum) in sums.iter().enumerate() {
                        for (v, s) in sum.iter().enumerate() {
                            s.store(target.add(p * out_pixel + v * L::WIDTH));
                        }
                    }
                }
            }
        }
    }
}

/// Adds `inputs` channels' products to `sums`, the kernels' register block: for each channel,
/// its `block` weights (from `weights`, the channels one after another) times that channel of
/// each of the [`PIXELS`] values (`values.0 + p · values.1 + channel`).
///
/// # Safety
/// The weights and values read are inside their buffers.
#[inline(always)]
unsafe fn accumulate<L: Lanes>(
    sums: &mut [[L; VECTORS]; PIXELS],
    weights: *const f32,
    (values, stride): (*const f32, usize),
    inputs: usize,
    block: usize,
) {
    for channel in 0..inputs {
        // SAFETY: the caller's promise.
        unsafe {
            let vectors: [L; VECTORS] = std::array::from_fn(|v| L::load(weights.add(channel * block + v * L::WIDTH)));
            for (p, sum) in sums.iter_mut().enumerate() {
                let value = L::splat(*values.add(p * stride + channel));
                for (s, &weight) in sum.iter_mut().zip(&vectors) {
                    *s = s.mul_add(value, weight);
                }
            }
        }
    }
}

/// Four lanes as a plain array: LLVM turns these loops into whatever vectors the target has.
#[derive(Clone, Copy)]
struct Portable([f32; 4]);

impl Lanes for Portable {
    const WIDTH: usize = 4;

    #[inline(always)]
    unsafe fn load(ptr: *const f32) -> Self {
        // SAFETY: the caller's promise.
        Portable(unsafe { ptr.cast::<[f32; 4]>().read_unaligned() })
    }

    #[inline(always)]
    unsafe fn store(self, ptr: *mut f32) {
        // SAFETY: the caller's promise.
        unsafe { ptr.cast::<[f32; 4]>().write_unaligned(self.0) }
    }

    #[inline(always)]
    fn splat(value: f32) -> Self {
        Portable([value; 4])
    }

    #[inline(always)]
    fn add(self, other: Self) -> Self {
        Portable(std::array::from_fn(|i| self.0[i] + other.0[i]))
    }

    #[inline(always)]
    fn sub(self, other: Self) -> Self {
        Portable(std::array::from_fn(|i| self.0[i] - other.0[i]))
    }

    #[inline(always)]
    fn mul(self, other: Self) -> Self {
        Portable(std::array::from_fn(|i| self.0[i] * other.0[i]))
    }

    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        Portable(std::array::from_fn(|i| self.0[i] + a.0[i] * b.0[i]))
    }

    #[inline(always)]
    fn prelu(self, slope: Self) -> Self {
        Portable(std::array::from_fn(|i| self.0[i].max(0.0) + slope.0[i] * self.0[i].min(0.0)))
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Conv, Lanes};

    /// Eight lanes of AVX2, multiplied and added in one rounding by FMA.
    #[derive(Clone, Copy)]
    pub struct Avx2(__m256);

    /// The kernel compiled with AVX2 and FMA: everything below is inlined into it.
    ///
    /// # Safety
    /// As [`super::by_form`]; the CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn rows(conv: &Conv, out: &mut [f32], first: usize, rows: usize) {
        // SAFETY: the caller's promise.
        unsafe { super::by_form::<Avx2>(conv, out, first, rows) }
    }

    // SAFETY (every intrinsic below): these methods are only reached from `rows`, which runs
    // where the CPU has AVX2 and FMA; pointers are the callers' promise.
    impl Lanes for Avx2 {
        const WIDTH: usize = 8;

        #[inline(always)]
        unsafe fn load(ptr: *const f32) -> Self {
            Avx2(unsafe { _mm256_loadu_ps(ptr) })
        }

        #[inline(always)]
        unsafe fn store(self, ptr: *mut f32) {
            unsafe { _mm256_storeu_ps(ptr, self.0) }
        }

        #[inline(always)]
        fn splat(value: f32) -> Self {
            Avx2(unsafe { _mm256_set1_ps(value) })
        }

        #[inline(always)]
        fn add(self, other: Self) -> Self {
            Avx2(unsafe { _mm256_add_ps(self.0, other.0) })
        }

        #[inline(always)]
        fn sub(self, other: Self) -> Self {
            Avx2(unsafe { _mm256_sub_ps(self.0, other.0) })
        }

        #[inline(always)]
        fn mul(self, other: Self) -> Self {
            Avx2(unsafe { _mm256_mul_ps(self.0, other.0) })
        }

        #[inline(always)]
        fn mul_add(self, a: Self, b: Self) -> Self {
            Avx2(unsafe { _mm256_fmadd_ps(a.0, b.0, self.0) })
        }

        #[inline(always)]
        fn prelu(self, slope: Self) -> Self {
            unsafe {
                let zero = _mm256_setzero_ps();
                Avx2(_mm256_fmadd_ps(slope.0, _mm256_min_ps(self.0, zero), _mm256_max_ps(self.0, zero)))
            }
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use std::arch::wasm32::*;

    use super::Lanes;

    /// Four lanes of WebAssembly SIMD (no fused multiply-add: a multiply and an add).
    #[derive(Clone, Copy)]
    pub struct Simd128(v128);

    impl Lanes for Simd128 {
        const WIDTH: usize = 4;

        #[inline(always)]
        unsafe fn load(ptr: *const f32) -> Self {
            // SAFETY: the caller's promise; v128 loads need no alignment.
            Simd128(unsafe { v128_load(ptr.cast()) })
        }

        #[inline(always)]
        unsafe fn store(self, ptr: *mut f32) {
            // SAFETY: the caller's promise.
            unsafe { v128_store(ptr.cast(), self.0) }
        }

        #[inline(always)]
        fn splat(value: f32) -> Self {
            Simd128(f32x4_splat(value))
        }

        #[inline(always)]
        fn add(self, other: Self) -> Self {
            Simd128(f32x4_add(self.0, other.0))
        }

        #[inline(always)]
        fn sub(self, other: Self) -> Self {
            Simd128(f32x4_sub(self.0, other.0))
        }

        #[inline(always)]
        fn mul(self, other: Self) -> Self {
            Simd128(f32x4_mul(self.0, other.0))
        }

        #[inline(always)]
        fn mul_add(self, a: Self, b: Self) -> Self {
            Simd128(f32x4_add(self.0, f32x4_mul(a.0, b.0)))
        }

        #[inline(always)]
        fn prelu(self, slope: Self) -> Self {
            let zero = f32x4_splat(0.0);
            // The pseudo-minimum and maximum are single x86 instructions; no NaN reaches them.
            Simd128(f32x4_add(f32x4_pmax(self.0, zero), f32x4_mul(slope.0, f32x4_pmin(self.0, zero))))
        }
    }
}
