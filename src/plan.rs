//! Planning: from the size the user wants to the network passes and the resize that follow.
//! The cheapest sufficient chain of models runs (one pass, or two: 6× as 3× then 2×, 8× as 4×
//! then 2×), and Lanczos3 takes the result down to the exact size asked for.

use serde::{Deserialize, Serialize};

use crate::limits::Limits;
use crate::model::MODEL_SCALES;
use crate::{Error, Result};

/// How the output is sized: fit `contain` keeps it inside the box, `cover` fills the box and
/// crops the overflow (centred), like CSS `object-fit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    Contain,
    Cover,
}

/// The size the user wants. As JSON (the page's jobs): `{"scale": 4}`, `{"longEdge": 2000}` or
/// `{"box": {"width": 1920, "height": 1080, "fit": "contain"}}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Target {
    /// 2, 3, 4 or 8 (= 4× then 2×).
    Scale(usize),
    /// The longer side becomes exactly this many pixels.
    LongEdge(u32),
    /// A `width`×`height` box.
    #[serde(rename = "box")]
    Size { width: u32, height: u32, fit: Fit },
    /// A print size at a density: the box it makes, turned to the image's orientation.
    Print(PrintSize),
}

/// A paper or print size and the density to print it at. As JSON: `{"width": 8, "height": 10,
/// "unit": "in" | "cm" | "mm", "dpi": 300, "fit": "contain"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PrintJson", into = "PrintJson")]
pub struct PrintSize {
    /// Sides in micrometres: exact for inches (25 400) and millimetres alike.
    pub width_um: u32,
    pub height_um: u32,
    pub dpi: u32,
    pub fit: Fit,
}

/// Paper sizes by name, in millimetres (ISO 216; US sizes are exact inches). The page names the
/// same papers (`www/job.js`; a test holds the two to one list).
pub const PAPERS: [(&str, f64, f64); 7] = [
    ("a3", 297.0, 420.0),
    ("a4", 210.0, 297.0),
    ("a5", 148.0, 210.0),
    ("a6", 105.0, 148.0),
    ("letter", 215.9, 279.4),
    ("legal", 215.9, 355.6),
    ("tabloid", 279.4, 431.8),
];

/// The density when a print size names none.
pub const DEFAULT_DPI: u32 = 300;

impl PrintSize {
    /// Parses a print size as people write it: `8x10in@300`, `20x25cm@300`, `210x297mm`,
    /// `A4@300`, `letter` (the density defaults to 300 DPI).
    ///
    /// # Errors
    ///
    /// [`Error::Parameter`] saying what form was expected.
    pub fn parse(text: &str, fit: Fit) -> Result<Self> {
        let invalid = || {
            Error::Parameter(format!(
                "cannot read the print size {text:?}: expected WIDTHxHEIGHT with a unit (in, cm or mm) \
                 or a paper name ({}), then @DPI, e.g. 8x10in@300 or A4@300",
                PAPERS.iter().map(|(name, ..)| name.to_uppercase()).collect::<Vec<_>>().join(", ")
            ))
        };
        // Plain decimals only, as people write sizes (and as the page reads them): Rust's own
        // parsers would also take "1e1", "inf" or "+300".
        let digits = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
        let decimal = |v: &str| {
            let v = v.trim();
            let (whole, fraction) = v.split_once('.').unwrap_or((v, "0"));
            if digits(whole) && digits(fraction) { v.parse::<f64>().map_err(|_| invalid()) } else { Err(invalid()) }
        };
        let lower = text.trim().to_ascii_lowercase();
        let (size, dpi) = match lower.split_once('@') {
            Some((size, dpi)) => {
                let dpi = dpi.strip_suffix("dpi").unwrap_or(dpi).trim();
                (size.trim(), if digits(dpi) { dpi.parse().map_err(|_| invalid())? } else { return Err(invalid()) })
            }
            None => (lower.as_str(), DEFAULT_DPI),
        };
        let (width_mm, height_mm) = match PAPERS.iter().find(|(name, ..)| *name == size) {
            Some(&(_, width, height)) => (width, height),
            None => {
                let (number, unit_mm) = [("in", 25.4), ("cm", 10.0), ("mm", 1.0)]
                    .iter()
                    .find_map(|&(unit, mm)| size.strip_suffix(unit).map(|n| (n, mm)))
                    .ok_or_else(invalid)?;
                let (width, height) = number.split_once(['x', '×']).ok_or_else(invalid)?;
                let side = |v: &str| decimal(v).map(|v| v * unit_mm);
                (side(width)?, side(height)?)
            }
        };
        Self::new(width_mm, height_mm, dpi, fit)
    }

    /// A print size from millimetres.
    ///
    /// # Errors
    ///
    /// [`Error::Parameter`] for a side that is not positive or over 10 m, or a density outside
    /// 1..=10 000 DPI.
    pub fn new(width_mm: f64, height_mm: f64, dpi: u32, fit: Fit) -> Result<Self> {
        let micrometres = |mm: f64| {
            if mm.is_finite() && mm > 0.0 && mm <= 10_000.0 {
                Ok((mm * 1000.0).round() as u32)
            } else {
                Err(Error::Parameter(format!("a print side must be more than 0 and at most 10 m, not {mm} mm")))
            }
        };
        if !(1..=10_000).contains(&dpi) {
            return Err(Error::Parameter(format!("a print density must be 1 to 10000 DPI, not {dpi}")));
        }
        Ok(Self { width_um: micrometres(width_mm)?, height_um: micrometres(height_mm)?, dpi, fit })
    }

    /// The pixel box for an image of `width`×`height`: the paper at the density, turned so that
    /// its longer side lies along the image's longer side.
    pub fn pixel_box(&self, width: u32, height: u32) -> (u32, u32) {
        let pixels = |um: u32| ((f64::from(um) * f64::from(self.dpi) / 25_400.0).round() as u32).max(1);
        let (w, h) = (pixels(self.width_um), pixels(self.height_um));
        if (width > height && w < h) || (width < height && w > h) { (h, w) } else { (w, h) }
    }

    /// `8x10in-300dpi`, `210x297mm-300dpi`: for output names.
    fn label(&self) -> String {
        let inches = self.width_um.is_multiple_of(2540) && self.height_um.is_multiple_of(2540);
        let (per_unit, unit) = if inches { (25_400.0, "in") } else { (1000.0, "mm") };
        // One decimal at most: 8.5 in, 215.9 mm.
        let side = |um: u32| (f64::from(um) / per_unit * 10.0).round() / 10.0;
        format!("{}x{}{unit}-{}dpi", side(self.width_um), side(self.height_um), self.dpi)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrintJson {
    width: f64,
    height: f64,
    unit: String,
    dpi: u32,
    #[serde(default = "contain")]
    fit: Fit,
}

fn contain() -> Fit {
    Fit::Contain
}

impl TryFrom<PrintJson> for PrintSize {
    type Error = Error;

    fn try_from(json: PrintJson) -> Result<Self> {
        let mm = match json.unit.as_str() {
            "in" => 25.4,
            "cm" => 10.0,
            "mm" => 1.0,
            unit => return Err(Error::Parameter(format!("unknown print unit {unit:?}: expected in, cm or mm"))),
        };
        PrintSize::new(json.width * mm, json.height * mm, json.dpi, json.fit)
    }
}

impl From<PrintSize> for PrintJson {
    fn from(print: PrintSize) -> Self {
        Self {
            width: f64::from(print.width_um) / 1000.0,
            height: f64::from(print.height_um) / 1000.0,
            unit: "mm".into(),
            dpi: print.dpi,
            fit: print.fit,
        }
    }
}

/// Scales the user may ask for directly.
pub const SCALES: [usize; 4] = [2, 3, 4, 8];

/// The scale when the user names no size.
pub const DEFAULT_SCALE: usize = 4;

/// The longest side a target may ask for: JPEG's limit, and so the most that every output
/// format but PNG stores (the page's job.js has the same).
pub const MAX_SIDE: u32 = 65_535;

impl Target {
    pub fn validate(&self) -> Result<()> {
        let side = |n: u32| (1..=MAX_SIDE).contains(&n);
        let ok = match *self {
            Target::Scale(s) => SCALES.contains(&s),
            Target::LongEdge(n) => side(n),
            Target::Size { width, height, .. } => side(width) && side(height),
            // Checked when it was made.
            Target::Print(_) => true,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::Parameter(match self {
                Target::Scale(s) => format!("scale {s} is not one of {SCALES:?}"),
                _ => format!("a target side must be 1 to {MAX_SIDE} pixels"),
            }))
        }
    }

    /// The suffix of output names: `4x`, `2000px`, `1920x1080`.
    pub fn label(&self) -> String {
        match *self {
            Target::Scale(s) => format!("{s}x"),
            Target::LongEdge(n) => format!("{n}px"),
            Target::Size { width, height, .. } => format!("{width}x{height}"),
            Target::Print(print) => print.label(),
        }
    }

    /// The density the output should record: a print size's.
    pub fn dpi(&self) -> Option<f64> {
        match self {
            Target::Print(print) => Some(f64::from(print.dpi)),
            _ => None,
        }
    }
}

/// What the pipeline will do to one image.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Network passes in order (6× is `[3, 2]`, 8× `[4, 2]`; empty when the target is no larger
    /// than the input).
    pub passes: Vec<usize>,
    /// Size after the network passes.
    pub network_size: (u32, u32),
    /// Size after the Lanczos3 resize (equal to `network_size` when no resize is needed).
    pub resized: (u32, u32),
    /// Centred crop to this size (fit cover), if any.
    pub output: (u32, u32),
}

impl Plan {
    /// Picks the cheapest sufficient chain of upres's models for the target ([`passes_for`]) and
    /// the resize that follows; checks every intermediate against `limits`.
    pub fn new(width: u32, height: u32, target: Target, limits: &Limits) -> Result<Self> {
        Self::for_scales(width, height, target, limits, &MODEL_SCALES)
    }

    /// [`Plan::new`] with models of `scales` (a person's own models may offer only ×4).
    pub fn for_scales(width: u32, height: u32, target: Target, limits: &Limits, scales: &[usize]) -> Result<Self> {
        target.validate()?;
        let (w, h) = (f64::from(width), f64::from(height));
        let by_factor = |f: f64| (f, scaled(width, height, f), None);
        let in_box = |bw: u32, bh: u32, fit: Fit| {
            let (fx, fy) = (f64::from(bw) / w, f64::from(bh) / h);
            let f = if fit == Fit::Contain { fx.min(fy) } else { fx.max(fy) };
            let size = scaled(width, height, f);
            match fit {
                Fit::Contain => (f, size, None),
                // Rounding must never leave the box uncovered.
                Fit::Cover => (f, (size.0.max(u64::from(bw)), size.1.max(u64::from(bh))), Some((bw, bh))),
            }
        };
        let (factor, resized, crop) = match target {
            Target::Scale(s) => by_factor(s as f64),
            Target::LongEdge(n) => by_factor(f64::from(n) / w.max(h)),
            Target::Size { width: bw, height: bh, fit } => in_box(bw, bh, fit),
            // A print size is the box it makes on paper.
            Target::Print(print) => {
                let (bw, bh) = print.pixel_box(width, height);
                in_box(bw, bh, print.fit)
            }
        };
        let output = crop.map_or(resized, |(bw, bh)| (u64::from(bw), u64::from(bh)));
        let passes = passes_for(factor, scales);
        let mut size = (u64::from(width), u64::from(height));
        for &pass in &passes {
            size = (size.0 * pass as u64, size.1 * pass as u64);
            limits.check_output(size.0, size.1)?;
        }
        limits.check_output(resized.0, resized.1)?;
        Ok(Self {
            passes,
            network_size: image_size(size, limits)?,
            resized: image_size(resized, limits)?,
            output: image_size(output, limits)?,
        })
    }
}

/// Image dimensions are 32-bit; a larger side is over any limit, however the limits were set.
fn image_size((width, height): (u64, u64), limits: &Limits) -> Result<(u32, u32)> {
    match (u32::try_from(width), u32::try_from(height)) {
        (Ok(w), Ok(h)) => Ok((w, h)),
        _ => Err(Error::Limits(crate::error::LimitError {
            what: "output",
            width,
            height,
            max_pixels: limits.max_output_pixels,
        })),
    }
}

fn scaled(width: u32, height: u32, factor: f64) -> (u64, u64) {
    let side = |v: u32| ((f64::from(v) * factor).round() as u64).max(1);
    (side(width), side(height))
}

/// The network passes for `factor`, from the chains the models make: one pass, or two with the
/// larger scale first (the first model sees the original's detail), ×4 to ×16. A chain that
/// makes `factor` exactly wins (no resize softens its result); else the cheapest that reaches
/// it, then the one that overshoots least. A pass costs what its input's pixels cost (the
/// models differ only in their last layer), so ×6 as ×3 then ×2 costs 1 + 9 where ×4 then ×2
/// costs 1 + 16. Beyond ×16 the rest is Lanczos3: the network cannot invent more detail.
fn passes_for(factor: f64, scales: &[usize]) -> Vec<usize> {
    if factor <= 1.0 {
        return Vec::new();
    }
    let pairs = scales
        .iter()
        .flat_map(|&first| scales.iter().filter(move |&&then| then <= first).map(move |&then| vec![first, then]));
    let chains: Vec<Vec<usize>> = scales.iter().map(|&s| vec![s]).chain(pairs).collect();
    let product = |chain: &[usize]| chain.iter().product::<usize>() as f64;
    // Each pass's input, in units of the original's pixels: 1, then s², …
    let cost = |chain: &[usize]| {
        chain.iter().fold((0.0, 1.0), |(cost, pixels), &s| (cost + pixels, pixels * (s * s) as f64)).0
    };
    let exact = |chain: &[usize]| (product(chain) - factor).abs() < 1e-9;
    let sufficient = chains.iter().filter(|chain| product(chain) >= factor - 1e-9);
    let best = sufficient.min_by(|a, b| {
        exact(b).cmp(&exact(a)).then(cost(a).total_cmp(&cost(b))).then(product(a).total_cmp(&product(b)))
    });
    best.cloned()
        .unwrap_or_else(|| chains.into_iter().max_by(|a, b| product(a).total_cmp(&product(b))).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_that_makes_the_factor_exactly_runs() {
        let exact: [(f64, &[usize]); 8] = [
            (2.0, &[2]),
            (3.0, &[3]),
            (4.0, &[4]),
            (6.0, &[3, 2]),
            (8.0, &[4, 2]),
            (9.0, &[3, 3]),
            (12.0, &[4, 3]),
            (16.0, &[4, 4]),
        ];
        for (factor, passes) in exact {
            assert_eq!(passes_for(factor, &MODEL_SCALES), passes, "×{factor}");
        }
    }

    #[test]
    fn otherwise_the_cheapest_chain_that_reaches_the_factor_then_the_smallest() {
        let cases: [(f64, &[usize]); 8] = [
            (1.0, &[]),
            (1.5, &[2]),
            (4.5, &[3, 2]),
            (5.0, &[3, 2]),
            (7.0, &[3, 3]),
            (10.0, &[4, 3]),
            (13.0, &[4, 4]),
            (20.0, &[4, 4]),
        ];
        for (factor, passes) in cases {
            assert_eq!(passes_for(factor, &MODEL_SCALES), passes, "×{factor}");
        }
    }

    #[test]
    fn a_person_s_own_x4_model_makes_every_factor_with_passes_of_x4() {
        let cases: [(f64, &[usize]); 4] = [(2.0, &[4]), (3.0, &[4]), (8.0, &[4, 4]), (40.0, &[4, 4])];
        for (factor, passes) in cases {
            assert_eq!(passes_for(factor, &[4]), passes, "×{factor}");
        }
        let plan = Plan::for_scales(100, 50, Target::Scale(2), &Limits::default(), &[4]).unwrap();
        assert_eq!((plan.passes, plan.network_size, plan.resized), (vec![4], (400, 200), (200, 100)));
    }

    #[test]
    fn an_8x10_print_at_300_dpi_of_a_500_px_photo_is_3x_then_2x_with_no_resize() {
        let print = PrintSize::parse("8x10in@300", Fit::Contain).unwrap();
        let plan = Plan::new(500, 400, Target::Print(print), &Limits::default()).unwrap();
        assert_eq!(plan.passes, [3, 2]);
        assert_eq!((plan.network_size, plan.resized, plan.output), ((3000, 2400), (3000, 2400), (3000, 2400)));
    }
}
