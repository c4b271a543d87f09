//! The documentation's commands: every `$ ` line of a `console` block in README.md is
//! run, in order, in one fresh folder, and every output line it shows (but `...`) must be a
//! line the command printed. An example that shows `batch_inference: error:` must exit with 2,
//! the usage code (the only errors the page shows); every other must succeed.

use crate::util::{repo, Workdir};

/// The commands of `markdown`'s console blocks, each with the output lines shown under it.
fn examples(markdown: &str) -> Vec<(String, Vec<String>)> {
    let mut examples: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_console = false;
    for line in markdown.lines() {
        if line.starts_with("```") {
            in_console = line == "```console";
            continue;
        }
        if !in_console {
            continue;
        }
        if let Some(command) = line.strip_prefix("$ ") {
            examples.push((command.to_string(), Vec::new()));
        } else if line != "..." && !line.is_empty() {
            let (_, shown) = examples.last_mut().expect("output follows a command");
            shown.push(line.to_string());
        }
    }
    examples
}

fn run_page(name: &str, page: &str) {
    let markdown = std::fs::read_to_string(repo().join(page)).unwrap();
    let examples = examples(&markdown);
    assert!(!examples.is_empty(), "no console examples in {page}");
    let wd = Workdir::new(name);
    // The import examples read committed ONNX fixtures by their paths in the repository.
    for dir in ["tests/fixtures/onnx", "tests/fixtures/trees"] {
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension() == Some("onnx".as_ref()) {
                let name = path.file_name().unwrap().to_str().unwrap();
                wd.create(&format!("{dir}/{name}"), std::fs::read(&path).unwrap());
            }
        }
    }
    // So do the MLflow examples, by the directories' paths.
    for dir in ["columns", "sklearn"] {
        let from = repo().join("tests/fixtures/mlflow").join(dir);
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap();
            wd.create(
                &format!("tests/fixtures/mlflow/{dir}/{name}"),
                std::fs::read(&path).unwrap(),
            );
        }
    }
    for (command, shown) in examples {
        let mut words: Vec<&str> = command.split_whitespace().collect();
        // `cargo run --release [-- ARGS]` is the binary with ARGS.
        if words.starts_with(&["cargo", "run", "--release"]) {
            let args = words.iter().skip_while(|w| **w != "--").skip(1).copied();
            words = std::iter::once("batch_inference").chain(args).collect();
        }
        match words[..] {
            ["mkdir", "-p", ref dirs @ ..] => {
                for dir in dirs {
                    std::fs::create_dir_all(wd.path(dir)).unwrap();
                }
            }
            ["batch_inference", ref args @ ..] => {
                let error = shown
                    .iter()
                    .any(|l| l.starts_with("batch_inference: error: "));
                let run = if error {
                    let model = shown.iter().any(|l| l.contains(": invalid model file: "));
                    wd.fails(args, if model { 4 } else { 2 })
                } else {
                    wd.ok(args)
                };
                let printed = format!("{}{}", run.stdout(), run.stderr());
                let printed: Vec<&str> = printed.lines().collect();
                for line in &shown {
                    assert!(
                        printed.contains(&line.as_str()),
                        "{page}: `{command}` did not print\n{line}\nbut:\n{}",
                        printed.join("\n")
                    );
                }
            }
            _ => panic!("{page}: a test cannot run `{command}`; teach tests/docs.rs or drop it"),
        }
    }
}

#[test]
fn every_command_in_the_readme_runs_and_prints_what_it_shows() {
    run_page("docs_readme", "README.md");
}

/// The rows of the markdown table that follows `heading` in `markdown`, cells trimmed, `\|`
/// unescaped, the header and rule rows left out.
fn table_after(markdown: &str, heading: &str) -> Vec<Vec<String>> {
    let start = markdown.find(heading).expect("the heading is in the page");
    markdown[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            let cells = l.replace("\\|", "\u{0}");
            cells
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().replace('\u{0}', "|"))
                .collect()
        })
        .collect()
}

#[test]
fn the_readme_and_help_show_the_one_exit_code_table() {
    let table: Vec<Vec<String>> = batch_inference::error::EXIT_CODES
        .iter()
        .map(|row| {
            let codes: Vec<String> = row.codes.iter().map(i32::to_string).collect();
            vec![codes.join(", "), row.meaning.to_string()]
        })
        .collect();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert_eq!(table_after(&readme, "## Exit codes and errors"), table);
    for command in [
        &["--help"][..],
        &["score", "--help"],
        &["train", "--help"],
        &["inspect", "--help"],
    ] {
        let help = Workdir::empty("docs_exit_codes").ok(command).stdout();
        let shown: Vec<Vec<String>> = help
            .lines()
            .skip_while(|l| *l != "Exit codes:")
            .skip(1)
            .take_while(|l| !l.is_empty())
            .map(|l| {
                let (codes, meaning) = l.trim().split_once("  ").expect("codes, then the meaning");
                vec![codes.trim().to_string(), meaning.trim().to_string()]
            })
            .collect();
        assert_eq!(shown, table, "{command:?}");
    }
}
