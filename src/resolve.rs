//! Which model runs each network pass, and why: the one place that turns a [`Route`] (the kind of
//! input, its JPEG quality, the look asked for), the plan's scales and the layer (colour or alpha)
//! into models from the loaded cards, with the sentence the command line prints and the page
//! shows. The pipeline, `upres eval` and the tests all ask here, so a new family of models
//! changes this file and the cards, nothing else.
//!
//! Not in `route.rs`: the route is decided from the file alone, before any card is read, and
//! `weights.rs` imports the route's kinds and looks for its cards, so choosing among cards there
//! would make an import cycle.

use std::fmt;

use crate::route::{InputKind, Look, Route};
use crate::weights::ModelCard;
use crate::{Error, Result};

/// What a network pass upscales.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// The picture, with the models its route asks for.
    Colour,
    /// The alpha channel: a mask, not a photo, whatever the colour was compressed with, so the
    /// clean faithful models, as for a PNG.
    Alpha,
}

/// The models for a job's network passes, one per pass in order, and why.
#[derive(Debug)]
pub struct Resolution<'m, M> {
    pub passes: Vec<&'m M>,
    pub reason: Reason,
}

/// Picks a model from `models` for each of `scales` (the plan's passes, e.g. `[4, 2]` for 8×).
///
/// Each pass takes a model of the family asked for if its scale has one: in the enhanced look
/// the enhanced model, in the faithful look the model of the route's kind (clean or
/// compression-aware). Else another family, in this order: the faithful look's other kind,
/// then the other look's (so the enhanced look falls back to the faithful models for the input,
/// and the faithful look to the enhanced model only where a scale has nothing else). Within a
/// family, models may each be trained for a range of JPEG qualities: the one whose range is
/// nearest the input's quality, the narrowest of those (a specialist wins inside its range), or
/// the widest when the quality is unknown; the first loaded on a tie.
///
/// A person's own models ([`ModelCard::imported`]), when any is loaded, are the only ones that
/// run, on colour and alpha alike: they were loaded for this job.
///
/// # Errors
///
/// [`Error::Model`] when a scale has no model at all.
pub fn resolve<'m, M: AsRef<ModelCard>>(
    models: &'m [M],
    route: &Route,
    scales: &[usize],
    layer: Layer,
) -> Result<Resolution<'m, M>> {
    if models.iter().any(|m| m.as_ref().imported.is_some()) {
        return own(models, route, scales);
    }
    let (reason, look, kind, quality) = match layer {
        Layer::Colour => (route.reason.clone(), route.look, route.kind, route.quality),
        Layer::Alpha => ("alpha channel: clean model".to_string(), Look::Faithful, InputKind::Clean, None),
    };
    let mut passes = Vec::with_capacity(scales.len());
    let mut families = Vec::with_capacity(scales.len());
    for &scale in scales {
        let model = preference(look, kind)
            .into_iter()
            .find_map(|family| pick(models, scale, family, quality))
            .ok_or_else(|| Error::Model(format!("no ×{scale} model is loaded")))?;
        passes.push(model);
        families.push((scale, Family::of(model.as_ref())));
    }
    Ok(Resolution { passes, reason: Reason { route: reason, look, kind, passes: families } })
}

/// The first of a person's own models for each scale.
fn own<'m, M: AsRef<ModelCard>>(models: &'m [M], route: &Route, scales: &[usize]) -> Result<Resolution<'m, M>> {
    let passes = scales
        .iter()
        .map(|&scale| {
            models.iter().find(|m| m.as_ref().imported.is_some() && m.as_ref().config.scale == scale).ok_or_else(|| {
                Error::Model(format!("none of the models given is ×{scale}, which this job's plan needs"))
            })
        })
        .collect::<Result<Vec<&M>>>()?;
    let several = passes.windows(2).any(|pair| !std::ptr::eq(pair[0], pair[1]));
    let reason = Reason {
        route: if several { "your own models" } else { "your own model" }.to_string(),
        look: route.look,
        kind: route.kind,
        passes: scales.iter().map(|&scale| (scale, Family::Own)).collect(),
    };
    Ok(Resolution { passes, reason })
}

/// Every model that `look` runs for inputs of `kind` (`None`: either, as automatic routing sends
/// them) at each of `scales`, whatever their JPEG quality, in the order they were loaded; `None`
/// when some pass would run a model of another family. What `upres eval` scores as one method.
pub fn family<'m, M: AsRef<ModelCard>>(
    models: &'m [M],
    kind: Option<InputKind>,
    look: Look,
    scales: &[usize],
) -> Option<Vec<Vec<&'m M>>> {
    let kinds = kind.map_or(vec![InputKind::Clean, InputKind::Compressed], |kind| vec![kind]);
    let qualities = std::iter::once(None).chain((0..=100).map(Some));
    let mut ran: Vec<Vec<&M>> = vec![Vec::new(); scales.len()];
    for route in kinds.iter().flat_map(|&kind| qualities.clone().map(move |q| Route::chosen(kind, q).with_look(look))) {
        let resolution = resolve(models, &route, scales, Layer::Colour).ok()?;
        if resolution.reason.fell_back() {
            return None;
        }
        for (ran, model) in ran.iter_mut().zip(resolution.passes) {
            ran.push(model);
        }
    }
    Some(ran.iter().map(|ran| models.iter().filter(|m| ran.iter().any(|r| std::ptr::eq(*r, *m))).collect()).collect())
}

/// A model's family: the look it gives and, for the faithful look, the inputs it was trained
/// for (the enhanced look has one model per scale, for every input); or a person's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Faithful(InputKind),
    Enhanced,
    Own,
}

impl Family {
    fn of(card: &ModelCard) -> Self {
        match card.look {
            Look::Faithful => Family::Faithful(card.input),
            Look::Enhanced => Family::Enhanced,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Faithful(kind) => kind.model_name(),
            Family::Enhanced => "enhanced",
            Family::Own => "your own",
        })
    }
}

/// The looks and kinds to try, in order.
fn preference(look: Look, kind: InputKind) -> [(Look, InputKind); 4] {
    let other = match kind {
        InputKind::Clean => InputKind::Compressed,
        InputKind::Compressed => InputKind::Clean,
    };
    let [first, then] = match look {
        Look::Faithful => [Look::Faithful, Look::Enhanced],
        Look::Enhanced => [Look::Enhanced, Look::Faithful],
    };
    [(first, kind), (first, other), (then, kind), (then, other)]
}

/// The model of `look` and `kind` at `scale` whose JPEG qualities suit `quality` best.
fn pick<M: AsRef<ModelCard>>(
    models: &[M],
    scale: usize,
    (look, kind): (Look, InputKind),
    quality: Option<u8>,
) -> Option<&M> {
    let fit = |m: &&M| {
        // A card without a range was trained on every quality.
        let [low, high] = m.as_ref().jpeg_qualities.unwrap_or([0, 100]);
        let distance = quality.map_or(0, |q| low.saturating_sub(q).max(q.saturating_sub(high)));
        let span = high.saturating_sub(low);
        (distance, if quality.is_some() { span } else { u8::MAX - span })
    };
    models
        .iter()
        .filter(|m| {
            let card = m.as_ref();
            card.config.scale == scale && card.look == look && card.input == kind
        })
        .min_by_key(fit)
}

/// Why these models ran, in words: the route's reason, then whatever the loaded models made of
/// it ("enhanced look: …", "no enhanced model for this scale, so the faithful one; …",
/// "…, but none is loaded for this scale: clean model").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    /// Why the route's kind ("JPEG quality ≈ 72: compression-aware model").
    route: String,
    look: Look,
    kind: InputKind,
    /// Each pass's scale and the family of the model that runs it.
    passes: Vec<(usize, Family)>,
}

impl Reason {
    /// Whether some pass runs a model of another family than the one asked for.
    fn fell_back(&self) -> bool {
        let wanted = match self.look {
            Look::Faithful => Family::Faithful(self.kind),
            Look::Enhanced => Family::Enhanced,
        };
        self.passes.iter().any(|&(_, family)| family != wanted)
    }

    /// "this scale" when `scales` are every pass, else the passes named: "×2".
    fn scope(&self, scales: &[usize]) -> String {
        if scales.len() == self.passes.len() {
            return "this scale".to_string();
        }
        scales.iter().map(|scale| format!("×{scale}")).collect::<Vec<_>>().join(" and ")
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const ENHANCED: &str = "enhanced look: the model for photos as they come";
        if self.passes.iter().any(|&(_, family)| family == Family::Own) {
            return f.write_str(&self.route);
        }
        // The passes the route's own words are about: all of them in the faithful look, those
        // without an enhanced model in the enhanced one.
        let faithful: Vec<(usize, Family)> = self
            .passes
            .iter()
            .copied()
            .filter(|&(_, family)| self.look == Look::Faithful || family != Family::Enhanced)
            .collect();
        if self.look == Look::Enhanced {
            if faithful.is_empty() {
                return f.write_str(ENHANCED);
            }
            if faithful.len() < self.passes.len() {
                write!(f, "{ENHANCED}; ")?;
            }
            let scales: Vec<usize> = faithful.iter().map(|&(scale, _)| scale).collect();
            write!(f, "no enhanced model for {}, so the faithful one; ", self.scope(&scales))?;
        }
        f.write_str(&self.route)?;
        // The passes that ran another family than the route's, grouped by the family that ran.
        let mut instead: Vec<(Family, Vec<usize>)> = Vec::new();
        for (scale, family) in faithful.into_iter().filter(|&(_, family)| family != Family::Faithful(self.kind)) {
            match instead.iter_mut().find(|(other, _)| *other == family) {
                Some((_, scales)) => scales.push(scale),
                None => instead.push((family, vec![scale])),
            }
        }
        for (index, (family, scales)) in instead.iter().enumerate() {
            let lead = if index == 0 { ", but none is loaded for" } else { "; nor for" };
            write!(f, "{lead} {}: {family} model", self.scope(scales))?;
        }
        Ok(())
    }
}

/// Cards resolve as themselves (a list of cards, as the tests hold); loaded models through
/// theirs ([`crate::upscale::LoadedModel`]).
impl AsRef<ModelCard> for ModelCard {
    fn as_ref(&self) -> &ModelCard {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NetConfig;
    use crate::weights::{Imported, Training};

    use InputKind::{Clean, Compressed};
    use Look::{Enhanced, Faithful};

    fn card(name: &str, scale: usize, input: InputKind, look: Look, jpeg_qualities: Option<[u8; 2]>) -> ModelCard {
        ModelCard {
            name: name.into(),
            config: NetConfig::new(scale, 8, 1),
            architecture: Default::default(),
            weights: format!("{name}.bpk"),
            sha256: String::new(),
            parameters: 0,
            macs_per_input_pixel: 0,
            input,
            jpeg_qualities,
            look,
            training: Training::default(),
            evaluation: Vec::new(),
            imported: None,
        }
    }

    /// The shipped models' families and ranges, in the order `models/` lists them.
    fn shipped() -> Vec<ModelCard> {
        vec![
            card("x2-jpeg-fine", 2, Compressed, Faithful, Some([85, 95])),
            card("x2-jpeg-light", 2, Compressed, Faithful, Some([70, 95])),
            card("x2-jpeg", 2, Compressed, Faithful, Some([30, 95])),
            card("x2", 2, Clean, Faithful, None),
            card("x3-jpeg-fine", 3, Compressed, Faithful, Some([85, 95])),
            card("x3-jpeg", 3, Compressed, Faithful, Some([30, 95])),
            card("x3", 3, Clean, Faithful, None),
            card("x4-enhanced", 4, Compressed, Enhanced, Some([30, 95])),
            card("x4-jpeg-fine", 4, Compressed, Faithful, Some([85, 95])),
            card("x4-jpeg-heavy", 4, Compressed, Faithful, Some([30, 60])),
            card("x4-jpeg-mid", 4, Compressed, Faithful, Some([60, 85])),
            card("x4-jpeg", 4, Compressed, Faithful, Some([30, 95])),
            card("x4", 4, Clean, Faithful, None),
        ]
    }

    /// The names of the models for each pass, and the reason.
    fn ran<'m>(models: &'m [ModelCard], route: &Route, scales: &[usize], layer: Layer) -> (Vec<&'m str>, String) {
        let resolution = resolve(models, route, scales, layer).unwrap();
        (resolution.passes.iter().map(|card| card.name.as_str()).collect(), resolution.reason.to_string())
    }

    fn chosen(kind: InputKind, quality: Option<u8>, look: Look) -> Route {
        Route::chosen(kind, quality).with_look(look)
    }

    /// Every kind, with and without a JPEG quality, in both looks, at 2×, 3×, 4× and 8× (4× then
    /// 2×), for the colour and the alpha: the shipped set has a model of every faithful family at
    /// every scale and an enhanced one at 4× only.
    #[test]
    fn a_person_s_own_models_run_alone_on_colour_and_alpha() {
        let imported = Imported { file: "mine.pth".into(), format: "PyTorch .pth".into(), sha256: String::new() };
        let mut models = shipped();
        models.push(ModelCard { imported: Some(imported), ..card("mine", 4, Clean, Faithful, None) });
        let route = Route::chosen(Compressed, Some(50)).with_look(Enhanced);
        for layer in [Layer::Colour, Layer::Alpha] {
            let resolution = resolve(&models, &route, &[4, 4], layer).unwrap();
            assert!(resolution.passes.iter().all(|m| m.name == "mine"), "{layer:?}");
            assert_eq!(resolution.reason.to_string(), "your own model");
        }
        let error = resolve(&models, &route, &[2], Layer::Colour).unwrap_err().to_string();
        assert!(error.contains("none of the models given is ×2"), "{error}");
    }

    #[test]
    fn every_route_look_scale_and_layer_runs_the_model_of_its_family() {
        let models = shipped();
        // The faithful model of each kind and quality, per scale.
        let faithful = |kind, quality: Option<u8>, scale: usize| -> &str {
            match (kind, quality, scale) {
                (Clean, _, 2) => "x2",
                (Clean, _, 3) => "x3",
                (Clean, _, _) => "x4",
                (Compressed, None, 2) => "x2-jpeg",
                (Compressed, None, 3) => "x3-jpeg",
                (Compressed, None, _) => "x4-jpeg",
                (Compressed, Some(_), 2) => "x2-jpeg-light",
                (Compressed, Some(_), 3) => "x3-jpeg",
                (Compressed, Some(_), _) => "x4-jpeg-mid",
            }
        };
        for kind in [Clean, Compressed] {
            for quality in [None, Some(72)] {
                let route_reason = format!("{} model, as chosen", kind.model_name());
                for scales in [&[2][..], &[3], &[4], &[4, 2]] {
                    let route = chosen(kind, quality, Faithful);
                    let expected: Vec<&str> = scales.iter().map(|&s| faithful(kind, quality, s)).collect();
                    assert_eq!(ran(&models, &route, scales, Layer::Colour), (expected, route_reason.clone()));

                    let route = chosen(kind, quality, Enhanced);
                    let expected: Vec<&str> = scales
                        .iter()
                        .map(|&s| if s == 4 { "x4-enhanced" } else { faithful(kind, quality, s) })
                        .collect();
                    let reason = match scales {
                        [4] => "enhanced look: the model for photos as they come".to_string(),
                        [4, 2] => format!(
                            "enhanced look: the model for photos as they come; no enhanced model for ×2, so the \
                             faithful one; {route_reason}"
                        ),
                        _ => format!("no enhanced model for this scale, so the faithful one; {route_reason}"),
                    };
                    assert_eq!(ran(&models, &route, scales, Layer::Colour), (expected, reason), "{scales:?}");

                    // Alpha runs the clean faithful models whatever the route.
                    for look in [Faithful, Enhanced] {
                        let expected: Vec<&str> = scales.iter().map(|&s| faithful(Clean, None, s)).collect();
                        let alpha = ran(&models, &chosen(kind, quality, look), scales, Layer::Alpha);
                        assert_eq!(alpha, (expected, "alpha channel: clean model".to_string()));
                    }
                }
            }
        }
    }

    /// Compression-aware models for ranges of qualities: the nearest range wins, the narrowest
    /// of those inside it, the widest when the quality is unknown.
    #[test]
    fn a_jpeg_gets_the_nearest_range_the_narrowest_inside_it_and_the_widest_when_unknown() {
        let models = [
            card("clean", 2, Clean, Faithful, None),
            card("every", 2, Compressed, Faithful, Some([30, 95])),
            card("light", 2, Compressed, Faithful, Some([70, 95])),
            card("fine", 2, Compressed, Faithful, Some([85, 95])),
        ];
        let model = |quality| ran(&models, &chosen(Compressed, quality, Faithful), &[2], Layer::Colour).0;
        assert_eq!(model(Some(90)), ["fine"], "inside three ranges: the narrowest");
        assert_eq!(model(Some(75)), ["light"]);
        assert_eq!(model(Some(50)), ["every"]);
        assert_eq!(model(Some(20)), ["every"], "below every range: the nearest");
        assert_eq!(model(Some(98)), ["fine"], "above every range: all as near, so the narrowest");
        assert_eq!(model(None), ["every"], "unknown: the widest");

        let apart = [
            card("heavy", 2, Compressed, Faithful, Some([30, 60])),
            card("fine", 2, Compressed, Faithful, Some([85, 95])),
            card("any", 2, Compressed, Faithful, None),
        ];
        let model = |quality| ran(&apart, &chosen(Compressed, quality, Faithful), &[2], Layer::Colour).0;
        assert_eq!(model(Some(70)), ["any"], "a card without a range holds every quality");
        assert_eq!(model(None), ["any"], "and is the widest");
        let apart = &apart[..2];
        let model = |quality| ran(apart, &chosen(Compressed, quality, Faithful), &[2], Layer::Colour).0;
        assert_eq!(model(Some(70)), ["heavy"], "10 below heavy's top, 15 below fine's bottom");
        assert_eq!(model(Some(80)), ["fine"]);
    }

    /// A scale without a model of the route's family runs another and says which, per pass when
    /// only some passes do; a scale with no model at all is an error that names it.
    #[test]
    fn a_scale_without_the_family_asked_for_runs_another_and_says_so() {
        // ×2: compression-aware only; ×3: enhanced only; ×4: clean only.
        let models = [
            card("x2-jpeg", 2, Compressed, Faithful, Some([30, 95])),
            card("x2-jpeg-fine", 2, Compressed, Faithful, Some([85, 95])),
            card("x3-enhanced", 3, Compressed, Enhanced, None),
            card("x4", 4, Clean, Faithful, None),
        ];
        let run =
            |kind, quality, look, scales: &[usize]| ran(&models, &chosen(kind, quality, look), scales, Layer::Colour);
        let both = |models: &[&'static str], reason: &str| (models.to_vec(), reason.to_string());

        assert_eq!(
            run(Clean, None, Faithful, &[2]),
            both(&["x2-jpeg"], "clean model, as chosen, but none is loaded for this scale: compression-aware model"),
            "the other kind, by its quality: unknown, the widest"
        );
        assert_eq!(run(Clean, Some(90), Faithful, &[2]).0, ["x2-jpeg-fine"], "by its quality");
        assert_eq!(
            run(Compressed, Some(70), Faithful, &[4]),
            both(&["x4"], "compression-aware model, as chosen, but none is loaded for this scale: clean model")
        );
        assert_eq!(
            run(Clean, None, Faithful, &[3]),
            both(&["x3-enhanced"], "clean model, as chosen, but none is loaded for this scale: enhanced model"),
            "the faithful look runs the enhanced model where a scale has nothing else"
        );
        assert_eq!(
            run(Clean, None, Faithful, &[4, 2]),
            both(&["x4", "x2-jpeg"], "clean model, as chosen, but none is loaded for ×2: compression-aware model")
        );
        assert_eq!(
            run(Compressed, None, Faithful, &[4, 2]),
            both(&["x4", "x2-jpeg"], "compression-aware model, as chosen, but none is loaded for ×4: clean model")
        );
        assert_eq!(
            run(Clean, None, Faithful, &[3, 2]),
            both(
                &["x3-enhanced", "x2-jpeg"],
                "clean model, as chosen, but none is loaded for ×3: enhanced model; nor for ×2: compression-aware model"
            )
        );
        assert_eq!(
            run(Clean, None, Enhanced, &[2]),
            both(
                &["x2-jpeg"],
                "no enhanced model for this scale, so the faithful one; clean model, as chosen, but none is loaded \
                 for this scale: compression-aware model"
            )
        );
        assert_eq!(
            run(Clean, None, Enhanced, &[3, 2]),
            both(
                &["x3-enhanced", "x2-jpeg"],
                "enhanced look: the model for photos as they come; no enhanced model for ×2, so the faithful one; \
                 clean model, as chosen, but none is loaded for ×2: compression-aware model"
            )
        );
        assert_eq!(
            ran(&models, &chosen(Compressed, Some(90), Enhanced), &[2, 3], Layer::Alpha),
            both(
                &["x2-jpeg", "x3-enhanced"],
                "alpha channel: clean model, but none is loaded for ×2: compression-aware model; nor for ×3: \
                 enhanced model"
            ),
            "alpha: the widest compression-aware model, as for an unknown quality"
        );
        assert_eq!(
            run(Clean, None, Enhanced, &[]),
            (Vec::new(), "enhanced look: the model for photos as they come".into())
        );
        assert_eq!(run(Compressed, None, Faithful, &[]), (Vec::new(), "compression-aware model, as chosen".into()));

        let error = resolve(&models[..3], &chosen(Clean, None, Faithful), &[4, 2], Layer::Colour).unwrap_err();
        assert!(matches!(error, Error::Model(_)), "{error}");
        assert!(error.to_string().contains("no ×4 model is loaded"), "{error}");
        let error = resolve::<ModelCard>(&[], &chosen(Clean, None, Faithful), &[2], Layer::Alpha).unwrap_err();
        assert!(error.to_string().contains("no ×2 model is loaded"), "{error}");
    }

    /// What `upres eval` scores: each family's models over every quality, in the order loaded;
    /// none where a pass would fall back to another family.
    #[test]
    fn a_family_is_every_model_it_runs_or_none_where_it_falls_back() {
        let models = shipped();
        let names = |kind, look, scales: &[usize]| {
            family(&models, kind, look, scales)
                .map(|passes| passes.iter().map(|pass| pass.iter().map(|m| m.name.as_str()).collect()).collect())
        };
        assert_eq!(names(Some(Clean), Faithful, &[4, 2]), Some(vec![vec!["x4"], vec!["x2"]]));
        assert_eq!(
            names(Some(Compressed), Faithful, &[4, 2]),
            Some(vec![
                vec!["x4-jpeg-fine", "x4-jpeg-heavy", "x4-jpeg-mid", "x4-jpeg"],
                vec!["x2-jpeg-fine", "x2-jpeg-light", "x2-jpeg"]
            ])
        );
        assert_eq!(names(None, Enhanced, &[4]), Some(vec![vec!["x4-enhanced"]]));
        assert_eq!(names(None, Enhanced, &[4, 2]), None, "×2 has no enhanced model");
        assert_eq!(names(None, Faithful, &[3]), Some(vec![vec!["x3-jpeg-fine", "x3-jpeg", "x3"]]));
        let clean_only = [card("x2", 2, Clean, Faithful, None)];
        assert!(family(&clean_only, Some(Compressed), Faithful, &[2]).is_none());
        assert!(family(&clean_only, Some(Clean), Faithful, &[3]).is_none(), "no ×3 model at all");
    }
}
