//! The global options, `--quiet` and `--log-format`: accepted before a subcommand as after
//! it, and in effect either way.

use crate::util::Workdir;

const TRAIN: [&str; 7] = [
    "train",
    "--data",
    "data/train.csv",
    "--target",
    "MEDV",
    "--out",
    "m.bin",
];

/// `args` before `TRAIN`'s subcommand and its options.
fn before_train(args: &[&'static str]) -> Vec<&'static str> {
    args.iter().chain(TRAIN.iter()).copied().collect()
}

#[test]
fn quiet_before_inspect_is_accepted() {
    let wd = Workdir::new("global_quiet_inspect");
    let run = wd.ok(&["-q", "inspect"]);
    assert!(run
        .stdout()
        .starts_with("model:          model/model.bin\n"));
    assert_eq!(run.stderr(), "");
    let long = wd.ok(&["--quiet", "inspect", "--json"]);
    assert_eq!(long.stderr(), "");
}

#[test]
fn quiet_before_train_silences_its_info_lines() {
    let wd = Workdir::new("global_quiet_train");
    let loud = wd.ok(&TRAIN);
    assert!(loud
        .stderr()
        .contains("Loading training data from: data/train.csv"));
    for flag in ["-q", "--quiet"] {
        let run = wd.ok(&before_train(&[flag]));
        assert_eq!(run.stderr(), "", "{flag}");
    }
    assert!(wd.path("m.bin").exists());
}

#[test]
fn log_format_json_before_train_logs_json_objects() {
    let wd = Workdir::new("global_json_train");
    let run = wd.ok(&before_train(&["--log-format", "json"]));
    let lines: Vec<String> = run.stderr().lines().map(String::from).collect();
    assert!(lines.len() >= 3, "{lines:?}");
    for line in &lines {
        let record: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON object: {line:?}: {e}"));
        assert_eq!(record["level"], "info", "{line}");
    }
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&lines[0]).unwrap()["msg"],
        "Loading training data from: data/train.csv"
    );
    // `=` form, and the same after the subcommand.
    let equals = wd.ok(&before_train(&["--log-format=json"]));
    assert!(equals.stderr().starts_with("{\"level\":\"info\""));
    let after: Vec<&str> = TRAIN
        .iter()
        .copied()
        .chain(["--log-format", "json"])
        .collect();
    assert!(wd.ok(&after).stderr().starts_with("{\"level\":\"info\""));
}

#[test]
fn quiet_alone_still_scores() {
    let wd = Workdir::new("global_quiet_score");
    let expected = wd.ok(&[]).stdout();
    let run = wd.ok(&["-q"]);
    assert_eq!(run.stdout(), expected);
    assert_eq!(run.stderr(), "");
    let json = wd.ok(&["--log-format", "json", "score", "-q"]);
    assert_eq!(json.stdout(), expected);
}

#[test]
fn a_scoring_option_before_a_subcommand_is_a_usage_error() {
    let wd = Workdir::new("global_score_option_before");
    let run = wd.fails(&["--data", "data/test.csv", "inspect"], 2);
    assert!(
        run.stderr().starts_with(
            "error: the subcommand 'inspect' cannot be used with '--data', an option of the \
             default command; put options after the subcommand\n"
        ),
        "{}",
        run.stderr()
    );
}
