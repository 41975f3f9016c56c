//! What each shipped model makes of one small fixed picture, pinned: a change to a model's
//! weights, to the network's code or to burn's kernels that moves its output by more than float
//! noise shows here, not in people's photos.
//!
//! The output is floats, and another CPU (other SIMD widths, other blocking in the matrix
//! kernels) may add them up in another order, so a hash of its bytes could break on the next
//! machine. Each model keeps a fingerprint instead: the mean of each colour (to read) and the
//! output's inner products with a few fixed ±1 patterns (to compare). On average the squared
//! differences of those products are the mean squared difference of the outputs, so two
//! fingerprints say how far apart two outputs are, in dB as PSNR: the test asks for at least
//! [`MIN_PSNR_DB`] against the stored output.
//!
//! After an intended change (a retrained or new model, a kernel that rounds differently),
//! regenerate the table: `UPRES_BLESS=1 cargo test --test suite golden -- --nocapture` prints a
//! new [`FINGERPRINTS`] to paste over the one below.

use std::path::Path;

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use upres::model::Net;
use upres::weights::ModelFile;

use crate::common;

/// The ±1 patterns a fingerprint holds products with. With 8, an output 60 dB away (the issue's
/// bar) reads as [`MIN_PSNR_DB`] or closer with a chance of about one in 10¹⁵.
const PATTERNS: usize = 8;

/// f32 rounds at about 1e-7 of the range (140 dB): adding up in another order (another CPU's SIMD
/// width or cache blocking, burn's wgpu backend) moves the output about that much. 100 dB is
/// stricter than the bar of 60 dB by as much as it is short of that noise.
const MIN_PSNR_DB: f64 = 100.0;

/// The picture's size inside the border each model needs (its context).
const PICTURE: (usize, usize) = (16, 12);

/// Each shipped model's name, the mean of each colour of its output, and its output's products
/// with the patterns; written by `UPRES_BLESS=1` (see the module's documentation).
#[rustfmt::skip]
const FINGERPRINTS: &[(&str, [f64; 3], [f64; PATTERNS])] = &[
    ("upres-x2-jpeg-fine", [0.42288622, 0.43754135, 0.45846139], [-0.22782317, -0.12138163, 0.68629633, 0.84318616, -0.54861797, -0.80429429, 0.15693842, 0.13999203]),
    ("upres-x2-jpeg-light", [0.42054419, 0.43998104, 0.46775302], [-0.19306336, -0.11256550, 0.69299189, 0.79475167, -0.54158169, -0.79543339, 0.13712759, 0.17310359]),
    ("upres-x2-jpeg", [0.43050792, 0.44056162, 0.45398769], [-0.22271825, -0.14705870, 0.64938754, 0.81054572, -0.54556961, -0.80863180, 0.11872586, 0.17515411]),
    ("upres-x2", [0.43312386, 0.43080766, 0.45147148], [-0.26709133, -0.18809246, 0.72157330, 0.89066427, -0.66257340, -0.85256737, 0.17183375, 0.09299325]),
    ("upres-x3-jpeg-fine", [0.44317351, 0.43834292, 0.46326867], [0.25327012, -0.23419383, -0.22854446, 0.37044470, -1.05425495, -0.68964756, -0.42790232, -0.01351020]),
    ("upres-x3-jpeg-light", [0.42826682, 0.43712296, 0.47690698], [0.27602060, -0.25001966, -0.27988912, 0.37174388, -1.04917528, -0.67675746, -0.41678749, -0.04339250]),
    ("upres-x3-jpeg", [0.42708819, 0.44052552, 0.48244825], [0.30368677, -0.23337504, -0.30029559, 0.35901951, -1.05113412, -0.66693290, -0.41219485, -0.06664689]),
    ("upres-x3", [0.43649149, 0.43387459, 0.45473525], [0.22366049, -0.23210003, -0.10968549, 0.49459409, -1.06090144, -0.69099333, -0.52586765, 0.00771351]),
    ("upres-x4-enhanced", [0.43430640, 0.43512798, 0.45641788], [0.58020615, -0.84756068, -0.21806724, 0.78603875, -0.61763826, -0.48005726, -0.01909244, 0.15356933]),
    ("upres-x4-jpeg-fine", [0.44359342, 0.43591719, 0.45568229], [0.45227171, -0.80328724, -0.30480531, 0.74871467, -0.77184338, -0.33024035, 0.07793448, -0.01293864]),
    ("upres-x4-jpeg-heavy", [0.43420240, 0.43739252, 0.48155122], [0.51017054, -0.88438563, -0.22828372, 0.78103587, -0.68685814, -0.40486613, 0.03820100, 0.01558830]),
    ("upres-x4-jpeg-mid", [0.44328138, 0.43700340, 0.46776636], [0.51964532, -0.83990531, -0.25675455, 0.81257248, -0.67145552, -0.41471069, 0.03750537, 0.03796116]),
    ("upres-x4-jpeg", [0.43412456, 0.43933198, 0.47870420], [0.49107838, -0.85731497, -0.24502297, 0.75115563, -0.71422885, -0.35431018, 0.06289154, -0.00673074]),
    ("upres-x4", [0.43592299, 0.43301630, 0.45336333], [0.26408638, -0.80430282, -0.31568934, 0.63239809, -0.85750489, -0.19015140, 0.07926595, -0.05330033]),
];

#[test]
fn every_shipped_model_makes_what_it_made_when_blessed() {
    let files = common::shipped_models();
    let device = Device::flex();
    let mut table = String::new();
    let mut moved = Vec::new();
    for file in &files {
        let name = file.card.name.as_str();
        let net = file.load(&device).unwrap_or_else(|e| panic!("{e}"));
        let (mean, products) = fingerprint(&net, file.card.config.context(), &device);
        let numbers = |values: &[f64]| values.iter().map(|v| format!("{v:.8}")).collect::<Vec<_>>().join(", ");
        table += &format!("    ({name:?}, [{}], [{}]),\n", numbers(&mean), numbers(&products));
        match FINGERPRINTS.iter().find(|(stored, ..)| *stored == name) {
            None => moved.push(format!("{name}: no fingerprint stored")),
            Some((_, stored_mean, stored)) => {
                let db = psnr_db(stored, &products);
                if db < MIN_PSNR_DB {
                    moved.push(format!(
                        "{name}: its output is {db:.1} dB from the stored one (at least {MIN_PSNR_DB} dB \
                         expected); mean RGB {} now, {} stored",
                        numbers(&mean),
                        numbers(stored_mean)
                    ));
                }
            }
        }
    }
    for (name, ..) in FINGERPRINTS {
        if !files.iter().any(|file| file.card.name == *name) {
            moved.push(format!("{name}: fingerprint stored, but no such model in models/"));
        }
    }
    if std::env::var_os("UPRES_BLESS").is_some() {
        println!("FINGERPRINTS for tests/suite/golden.rs:\n{table}");
        return;
    }
    assert!(
        moved.is_empty(),
        "the shipped models' outputs differ from the stored fingerprints:\n{}\n\nIf that is intended (a \
         retrained or new model, a kernel that rounds differently), regenerate them: UPRES_BLESS=1 cargo test \
         --test suite golden -- --nocapture, and paste the table it prints over FINGERPRINTS in tests/suite/golden.rs",
        moved.join("\n")
    );
}

/// Guards the test above: the first layer's weights moved by a thousandth of themselves (less
/// than one small training step) must be caught.
#[test]
fn a_first_layer_moved_by_a_thousandth_is_caught() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let file = ModelFile::read(&dir.join("upres-x2.json")).expect("the ×2 model");
    let device = Device::flex();
    let net = file.load(&device).unwrap();
    let border = file.card.config.context();
    let (_, products) = fingerprint(&net, border, &device);
    let (_, moved) = fingerprint(&net.map(&mut ScaleFirstParameter { by: 1.001, done: false }), border, &device);
    let db = psnr_db(&products, &moved);
    assert!(db < MIN_PSNR_DB, "a moved layer leaves the output {db:.1} dB from the original");
}

/// Multiplies the first parameter it meets (the first layer's weights) by `by`.
struct ScaleFirstParameter {
    by: f32,
    done: bool,
}

impl ModuleMapper for ScaleFirstParameter {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if std::mem::replace(&mut self.done, true) { param } else { param.map(|tensor| tensor * self.by) }
    }
}

/// The model's output on the picture (with `border` pixels more on each side, the model's
/// context): each colour's mean, and the products with the patterns
/// (each divided by √n, so that their squared differences average the outputs' mean squared
/// difference).
fn fingerprint(net: &Net, border: usize, device: &Device) -> ([f64; 3], [f64; PATTERNS]) {
    let (width, height) = (PICTURE.0 + 2 * border, PICTURE.1 + 2 * border);
    let input = Tensor::<4>::from_data(TensorData::new(picture(width, height), [1, 3, height, width]), device);
    let output = net.forward(input).into_data().try_to_vec::<f32>().unwrap();
    let plane = output.len() / 3;
    let mean = std::array::from_fn(|c| {
        output[c * plane..(c + 1) * plane].iter().map(|&v| f64::from(v)).sum::<f64>() / plane as f64
    });
    let root = (output.len() as f64).sqrt();
    let products = std::array::from_fn(|k| {
        output.iter().enumerate().map(|(i, &v)| if sign(k, i) { f64::from(v) } else { -f64::from(v) }).sum::<f64>()
            / root
    });
    (mean, products)
}

/// How far apart two outputs are, from their fingerprints: PSNR in dB (outputs run 0..1).
fn psnr_db(a: &[f64; PATTERNS], b: &[f64; PATTERNS]) -> f64 {
    let mse = a.iter().zip(b).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / PATTERNS as f64;
    -10.0 * mse.log10()
}

/// Pattern `k`'s sign at value `i`: SplitMix64's bits, the same on every machine.
fn sign(k: usize, i: usize) -> bool {
    let mut z = ((k as u64) << 32 | i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) & 1 == 1
}

/// The input, planar RGB in 0..1: a gradient, a hard diagonal edge and a fine texture, from
/// integers alone (no float function that another machine could round otherwise).
fn picture(width: usize, height: usize) -> Vec<f32> {
    let value = |c: usize, x: usize, y: usize| {
        let texture = if (x ^ y) & 1 == 1 { 30 } else { 0 };
        let level = match c {
            0 => x * 200 / width,
            1 => y * 200 / height,
            _ => {
                if 2 * (x + y) > width + height {
                    190
                } else {
                    40
                }
            }
        };
        (level + texture) as f32 / 255.0
    };
    (0..3).flat_map(|c| (0..height).flat_map(move |y| (0..width).map(move |x| value(c, x, y)))).collect()
}
