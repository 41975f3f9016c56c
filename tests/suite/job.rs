//! The job as the page sends it (JSON) and as the CLI and tests build it: one type, one form.

use upres::codec::OutputFormat;
use upres::job::Job;
use upres::metadata::MetadataChoice;
use upres::plan::{Fit, PrintSize, Target};
use upres::route::{InputChoice, Look};

#[test]
fn the_pages_json_is_the_job_and_back() {
    let json = r#"{"target":{"box":{"width":1920,"height":1080,"fit":"cover"}},"format":"jpeg","quality":85,"input":"compressed","metadata":"color","look":"enhanced"}"#;
    let job = Job::from_json(json).unwrap();
    let expected = Job::new(
        Target::Size { width: 1920, height: 1080, fit: Fit::Cover },
        OutputFormat::Jpeg { quality: 85 },
        InputChoice::Compressed,
        MetadataChoice::Color,
    )
    .unwrap()
    .with_look(Look::Enhanced);
    assert_eq!(job, expected);
    assert_eq!(serde_json::to_string(&job).unwrap(), json.replace(r#""format":"jpeg""#, r#""format":"jpg""#));
    // `input` may be left out: automatic routing.
    let job = Job::from_json(r#"{"target":{"longEdge":2000},"format":"png"}"#).unwrap();
    assert_eq!((job.target, job.input), (Target::LongEdge(2000), InputChoice::Auto));
    // So may `metadata`: everything but location.
    assert_eq!(job.metadata, MetadataChoice::NoLocation);
    // And `look`: faithful.
    assert_eq!(job.look, Look::Faithful);
}

#[test]
fn print_sizes_and_lossy_formats_travel_as_json() {
    let json =
        r#"{"target":{"print":{"width":8,"height":10,"unit":"in","dpi":300}},"format":"avif","quality":50,"speed":8}"#;
    let job = Job::from_json(json).unwrap();
    let print = PrintSize::parse("8x10in@300", Fit::Contain).unwrap();
    assert_eq!(job.target, Target::Print(print));
    assert_eq!(job.format, OutputFormat::Avif { quality: 50, speed: 8 });
    // Back and forth: the print size travels in millimetres.
    assert_eq!(Job::from_json(&serde_json::to_string(&job).unwrap()).unwrap(), job);
    let webp = Job::from_json(r#"{"target":{"scale":2},"format":"webp","quality":80}"#).unwrap();
    assert_eq!(webp.format, OutputFormat::WebP { quality: Some(80) });
}

#[test]
fn a_bad_job_says_what_is_wrong() {
    let message = |json: &str| Job::from_json(json).unwrap_err().to_string();
    assert!(message(r#"{"target":{"scale":5},"format":"png"}"#).contains("scale 5 is not one of [2, 3, 4, 8]"));
    assert!(message(r#"{"target":{"scale":4},"format":"png","quality":80}"#).contains("quality does not apply to PNG"));
    assert!(
        message(r#"{"target":{"print":{"width":8,"height":10,"unit":"ft","dpi":300}},"format":"png"}"#)
            .contains("unknown print unit \"ft\"")
    );
    assert!(message(r#"{"target":{"scale":4},"format":"png","colour":"red"}"#).contains("unknown field `colour`"));
    assert!(message(r#"{"target":{"scale":4},"format":"png","input":"blurry"}"#).contains("unknown variant `blurry`"));
}
