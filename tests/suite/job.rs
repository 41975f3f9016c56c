//! The job as the page sends it (JSON) and as the CLI and tests build it: one type, one form.
//!
//! The page, the embed and the widget build their jobs in JavaScript (`www/job.js`), which
//! states the vocabulary again: scales, papers, defaults, limits, the rounding of print sizes.
//! The tests at the end run the same requests through `job.js` (in Node) and through the engine
//! (`Job::from_json`, `PrintSize::parse`, `Plan::new`) and fail where the two disagree, so
//! neither side can change alone.

use std::path::Path;
use std::process::Command;

use clap::ValueEnum;
use serde::Serialize;
use serde_json::{Value, json};
use upres::codec::OutputFormat;
use upres::job::Job;
use upres::limits::Limits;
use upres::metadata::MetadataChoice;
use upres::plan::{self, Fit, Plan, PrintSize, Target};
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

// ---- www/job.js against the engine ------------------------------------------------------------

/// The value of `expression`, evaluated by Node with `www/job.js` imported as `job` and
/// `attempt(f)` at hand (`{ ok: f() }`, or `{ error }` for the error of kind "parameter" that
/// job.js throws), as JSON. `None`, the test skipped, where there is no Node (it fails in CI).
fn job_js(test: &str, expression: &str) -> Option<Value> {
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("www/job.js");
    let script = format!(
        "import {{ pathToFileURL }} from 'node:url';
         const job = await import(pathToFileURL(process.env.UPRES_JOB_JS));
         const attempt = (f) => {{
           try {{ return {{ ok: f() }}; }} catch (error) {{ if (error.kind !== 'parameter') throw error; return {{ error: error.message }}; }}
         }};
         process.stdout.write(JSON.stringify({expression}));"
    );
    let output =
        match Command::new("node").args(["--input-type=module", "-e", &script]).env("UPRES_JOB_JS", &module).output() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !std::env::var("CI").is_ok_and(|v| v == "true") => {
                eprintln!("{test}: SKIPPED, Node.js is not installed (the web app's tests need it)");
                return None;
            }
            result => result.unwrap_or_else(|e| panic!("{test}: cannot run node: {e}")),
        };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{test}: node failed on {}:\n{stderr}", module.display());
    Some(serde_json::from_slice(&output.stdout).expect("node prints JSON"))
}

/// The names the engine takes for `T` (as JSON), sorted.
fn names<T: ValueEnum + Serialize>() -> Vec<String> {
    let mut names: Vec<String> =
        T::value_variants().iter().map(|v| serde_json::to_value(v).unwrap().as_str().unwrap().to_owned()).collect();
    names.sort();
    names
}

/// A list of names from job.js, sorted.
fn sorted(js: &Value) -> Vec<String> {
    let mut names: Vec<String> = serde_json::from_value(js.clone()).expect("a list of names");
    names.sort();
    names
}

#[test]
fn job_js_has_the_engines_scales_defaults_limits_and_names() {
    let test = "job_js_has_the_engines_scales_defaults_limits_and_names";
    let expression = "{ SCALES: job.SCALES, DEFAULTS: job.DEFAULTS, MAX_OUTPUT_PIXELS: job.MAX_OUTPUT_PIXELS, \
        MAX_SIDE: job.MAX_SIDE, FITS: job.FITS, INPUTS: job.INPUTS, LOOKS: job.LOOKS, METADATA: job.METADATA, \
        FORMATS: job.FORMATS.concat(Object.keys(job.UNAVAILABLE_FORMATS)) }";
    let Some(js) = job_js(test, expression) else { return };
    let defaults = &js["DEFAULTS"];
    assert_eq!(js["SCALES"], json!(plan::SCALES), "job.js SCALES");
    assert_eq!(defaults["scale"], json!(plan::DEFAULT_SCALE), "job.js DEFAULTS.scale");
    assert_eq!(js["MAX_OUTPUT_PIXELS"], json!(Limits::default().max_output_pixels), "job.js MAX_OUTPUT_PIXELS");
    assert_eq!(js["MAX_SIDE"], json!(plan::MAX_SIDE), "job.js MAX_SIDE");

    assert_eq!(sorted(&js["FITS"]), names::<Fit>(), "job.js FITS");
    assert_eq!(sorted(&js["INPUTS"]), names::<InputChoice>(), "job.js INPUTS");
    assert_eq!(sorted(&js["LOOKS"]), names::<Look>(), "job.js LOOKS");
    assert_eq!(sorted(&js["METADATA"]), names::<MetadataChoice>(), "job.js METADATA");
    assert_eq!(defaults["input"], json!(InputChoice::default()), "job.js DEFAULTS.input");
    assert_eq!(defaults["metadata"], json!(MetadataChoice::default()), "job.js DEFAULTS.metadata");
    assert_eq!(defaults["look"], json!(Look::default()), "job.js DEFAULTS.look");
    for format in sorted(&js["FORMATS"]) {
        OutputFormat::parse(&format, None, None).unwrap_or_else(|e| panic!("job.js names format {format:?}: {e}"));
    }

    // What a job leaves out: JPEG's quality, and a print size's density and fit.
    let jpeg = Job::from_json(r#"{"target":{"scale":4},"format":"jpeg"}"#).unwrap();
    assert_eq!(defaults["quality"], json!(jpeg.format.quality()), "job.js DEFAULTS.quality (JPEG's)");
    assert_eq!(defaults["dpi"], json!(plan::DEFAULT_DPI), "job.js DEFAULTS.dpi");
    let print = Job::from_json(r#"{"target":{"print":{"width":8,"height":10,"unit":"in","dpi":300}},"format":"png"}"#);
    let Target::Print(print) = print.unwrap().target else { unreachable!("a print size") };
    assert_eq!(defaults["fit"], json!(print.fit), "job.js DEFAULTS.fit");
}

/// Requests as the worker's JSON; job.js reads them as `upscale()` options (`{ scale }` for a
/// scale, `target: { width, height, fit }` for a box: the shapes differ, not the words). Both
/// must accept the same ones and read them alike. (job.js also takes MIME types, and refuses
/// AVIF, which a browser cannot write: the page's own, and left out here.)
#[test]
fn job_js_accepts_the_jobs_the_engine_accepts_and_no_others() {
    let test = "job_js_accepts_the_jobs_the_engine_accepts_and_no_others";
    let mut requests = Vec::new();
    let png = |target: Value| json!({ "target": target, "format": "png" });
    let print = |width: f64, unit: &str, dpi: Value| {
        png(json!({ "print": { "width": width, "height": 10, "unit": unit, "dpi": dpi, "fit": "contain" } }))
    };
    requests.extend((0..=17).map(|scale| png(json!({ "scale": scale }))));
    requests.extend([json!(2.5), json!(-1)].map(|scale| png(json!({ "scale": scale }))));
    requests.extend([0, 1, 2000, 65_535, 65_536].map(|side| png(json!({ "longEdge": side }))));
    for (width, fit) in [(1920, "contain"), (1920, "cover"), (0, "contain"), (65_536, "contain"), (1920, "fill")] {
        requests.push(png(json!({ "box": { "width": width, "height": 1080, "fit": fit } })));
    }
    for (unit, sides) in [
        ("in", &[0.0, -1.0, 0.001, 8.5, 393.7, 393.71][..]),
        ("cm", &[0.01, 20.0, 1000.0, 1000.01]),
        ("mm", &[0.1, 210.0, 10_000.0, 10_000.01]),
        ("ft", &[1.0]),
    ] {
        requests.extend(sides.iter().map(|&side| print(side, unit, json!(300))));
    }
    requests.extend(
        [json!(0), json!(1), json!(72), json!(10_000), json!(10_001), json!(300.5)].map(|dpi| print(8.0, "in", dpi)),
    );
    for format in ["png", "jpeg", "jpg", "JPEG", "webp", "gif", ""] {
        requests.push(json!({ "target": { "scale": 2 }, "format": format }));
    }
    for (format, quality) in
        [("jpeg", 0), ("jpeg", 1), ("jpeg", 100), ("jpeg", 101), ("jpeg", 256), ("webp", 80), ("png", 90)]
    {
        requests.push(json!({ "target": { "scale": 2 }, "format": format, "quality": quality }));
    }
    for (option, values) in [
        ("input", ["auto", "clean", "compressed", "blurry"]),
        ("metadata", ["all", "no-location", "color", "gps"]),
        ("look", ["faithful", "enhanced", "vivid", "Faithful"]),
    ] {
        requests.extend(values.map(|value| json!({ "target": { "scale": 2 }, "format": "png", option: value })));
    }

    let expression = format!(
        "{}.map(({{ target, ...rest }}) => attempt(() => job.jobOptions({{ ...rest, \
         ...(target.scale !== undefined ? {{ scale: target.scale }} : {{ target: target.box ?? target }}) }})))",
        Value::from(requests.clone())
    );
    let Some(js) = job_js(test, &expression) else { return };
    for (request, js) in requests.iter().zip(js.as_array().unwrap()) {
        match (Job::from_json(&request.to_string()), &js["ok"]) {
            (Ok(rust), Value::Object(_)) => {
                let read = Job::from_json(&js["ok"].to_string());
                assert_eq!(read.as_ref().ok(), Some(&rust), "job.js reads {request} as {}: {read:?}", js["ok"]);
            }
            (Err(_), Value::Null) => {}
            (Ok(_), _) => panic!("job.js refuses {request}, which the engine accepts: {}", js["error"]),
            (Err(e), _) => panic!("job.js accepts {request}, which the engine refuses: {e}"),
        }
    }
}

/// Print sizes as people write them (the command line's `--print`, the page's and the API's
/// `print`), every paper job.js names, and the pixels each makes.
#[test]
fn job_js_reads_print_sizes_and_papers_as_the_command_line_does() {
    let test = "job_js_reads_print_sizes_and_papers_as_the_command_line_does";
    let texts = [
        "A4@300",
        "a4",
        "Letter@150",
        "legal@72",
        "TABLOID",
        "A3@600",
        "a5@299",
        "A6@1",
        "8x10in@300",
        "8.5 x 11 in @ 300dpi",
        "210x297mm",
        "20x25cm@600",
        "4×6 in@300",
        "33.3x44.4mm@1",
        "13x18cm@254",
        "A7@300",
        "8x10ft",
        "8x10in@0",
        "8x10in@10001",
        "0x10in",
        "400x400in",
        "8x10",
        "@300",
        "",
        "A4@",
        "A4@300@300",
        // Numbers as Rust's parsers read them and people do not write them.
        "1e1x1e1in",
        "infx10in",
        "NaNx10in",
        ".5x10in",
        "8.x10in",
        "+8x10in",
        "8x10in@+300",
        "8x10in@3e2",
        "8x10in@300dpidpi",
        "8x10in@300.0",
    ];
    // Each paper of job.js as the page's menu asks for it (`{ paper }`: its table) and by its name
    // in a string (its parser), beside the command line reading the key and the name.
    let expression = format!(
        "(() => {{ \
           const made = (print) => attempt(() => {{ \
             const {{ target }} = job.jobOptions({{ target: {{ print }} }}); \
             return {{ target, pixels: job.printPixels(target.print) }}; \
           }}); \
           const papers = Object.entries(job.PAPERS); \
           return {{ \
             papers: papers.filter(([, p]) => p.kind === 'paper').map(([key]) => key), \
             prints: {texts}.map((text) => [text, made(text)]).concat(papers.flatMap(([key, p]) => \
               [[key, made({{ paper: key }})], [`${{p.name}}@150`, made(`${{p.name}}@150`)]])), \
           }}; \
         }})()",
        texts = json!(texts.as_slice())
    );
    let Some(js) = job_js(test, &expression) else { return };
    let rust_papers: Vec<String> = plan::PAPERS.iter().map(|(name, ..)| name.to_string()).collect();
    // In the same order, as both list them in messages (and the page in its menu).
    assert_eq!(js["papers"], json!(rust_papers), "the papers of job.js (kind \"paper\") and of src/plan.rs");

    let prints = js["prints"].as_array().unwrap();
    assert!(prints.len() > texts.len(), "job.js names papers: {prints:?}");
    for pair in prints {
        let (text, js) = (pair[0].as_str().unwrap(), &pair[1]);
        match (PrintSize::parse(text, Fit::Contain), &js["ok"]) {
            (Ok(rust), Value::Object(made)) => {
                let target: Target = serde_json::from_value(made["target"].clone())
                    .unwrap_or_else(|e| panic!("job.js reads {text:?} as {}: {e}", made["target"]));
                assert_eq!(target, Target::Print(rust), "job.js reads {text:?} as {}", made["target"]);
                // Upright (a square image does not turn the paper): the same rounding.
                assert_eq!(made["pixels"], json!(rust.pixel_box(1, 1)), "the pixels of {text:?}");
            }
            (Err(_), Value::Null) => {}
            (Ok(_), _) => {
                panic!("job.js refuses the print size {text:?}, which the command line reads: {}", js["error"])
            }
            (Err(e), _) => panic!("job.js reads the print size {text:?}, which the command line refuses: {e}"),
        }
    }
}

/// What the page reckons before it asks the engine: whether a model runs at all (a target no
/// larger than the image only resizes), and the largest scale within the output limit.
#[test]
fn job_js_plans_as_the_engine_does() {
    let test = "job_js_plans_as_the_engine_does";
    let sizes = [
        (500, 400),
        (400, 500),
        (1000, 1000),
        (2000, 1000),
        (1999, 1000),
        (2480, 3508),
        (3508, 2480),
        (2479, 3508),
        (2480, 3509),
        (5000, 2500),
        (5000, 2501),
        (2500, 1250),
        (2500, 1251),
        (20_000, 20_000),
    ];
    let print = |fit: &str| json!({ "print": { "width": 210, "height": 297, "unit": "mm", "dpi": 300, "fit": fit } });
    let targets = [
        json!({ "scale": 2 }),
        json!({ "longEdge": 2000 }),
        json!({ "box": { "width": 1920, "height": 1080, "fit": "contain" } }),
        json!({ "box": { "width": 2000, "height": 2000, "fit": "cover" } }),
        print("contain"),
        print("cover"),
    ];
    let expression = format!(
        "{{ largest: {sizes}.map(([width, height]) => job.largestScale({{ width, height }}) ?? null), \
           enlarges: {targets}.map((target) => {sizes}.map(([width, height]) => job.enlargement(target, {{ width, height }}) > 1)) }}",
        sizes = json!(sizes),
        targets = Value::from(targets.to_vec()),
    );
    let Some(js) = job_js(test, &expression) else { return };

    let fits =
        |(width, height): (u32, u32), scale| Plan::new(width, height, Target::Scale(scale), &Limits::default()).is_ok();
    let largest: Vec<Option<usize>> =
        sizes.iter().map(|&size| plan::SCALES.into_iter().rev().find(|&s| fits(size, s))).collect();
    assert_eq!(js["largest"], json!(largest), "the largest scale within the output limit, for {sizes:?}");

    let unlimited = Limits { max_input_pixels: u64::MAX, max_output_pixels: u64::MAX };
    for (target, enlarges) in targets.iter().zip(js["enlarges"].as_array().unwrap()) {
        let parsed: Target = serde_json::from_value(target.clone()).unwrap();
        for (&(width, height), enlarges) in sizes.iter().zip(enlarges.as_array().unwrap()) {
            let runs = !Plan::new(width, height, parsed, &unlimited).unwrap().passes.is_empty();
            assert_eq!(enlarges, &json!(runs), "whether {target} runs a model on a {width}×{height} image");
        }
    }
}
