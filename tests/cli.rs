//! The command-line tool refuses bad input with one line on stderr and a non-zero exit, never a
//! panic and never a result computed from nonsense.

use std::process::Command;

fn modscope(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_modscope"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the modscope binary runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn refused(args: &[&str], says: &str) {
    let (ok, stdout, stderr) = modscope(args);
    assert!(!ok, "{args:?} succeeded: {stdout}");
    assert!(stdout.is_empty(), "{args:?} printed results: {stdout}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: not one line: {stderr}");
    assert!(stderr.starts_with("modscope: ") && stderr.contains(says), "{args:?}: {stderr}");
}

#[test]
fn numeric_flags_are_validated() {
    for capacity in ["0", "-0.5", "NaN", "1.5", "inf"] {
        refused(&["route", "--text", "Emma", "--capacity", capacity], "--capacity must be in (0, 1]");
        refused(&["flops", "--capacity", capacity], "--capacity must be in (0, 1]");
    }
    refused(&["generate", "--text", "Emma", "--temperature", "NaN"], "--temperature");
    refused(&["generate", "--text", "Emma", "--temperature", "-1"], "--temperature");
    refused(&["generate", "--text", "Emma", "--max-tokens", "0"], "--max-tokens");
    refused(&["bench", "--tokens", "0"], "--tokens");
    refused(&["bench", "--iterations", "0"], "--iterations");
    refused(&["bench", "--tokens", "100000"], "longer than the model's context");
    refused(&["flops", "--tokens", "0"], "--tokens");
}

#[test]
fn damaged_weights_are_refused_in_one_line() {
    let shipped = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/www/models/mod.safetensors")).unwrap();
    let header = u64::from_le_bytes(shipped[..8].try_into().unwrap()) as usize;
    let dir = std::env::temp_dir().join(format!("modscope-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut flipped = shipped.clone();
    flipped[8 + header + 1000] ^= 0x04;
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("flipped.safetensors", flipped, "SHA-256"),
        ("truncated.safetensors", shipped[..shipped.len() - 7].to_vec(), "truncated"),
        ("garbage.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!".to_vec(), "not JSON"),
    ];
    for (name, bytes, says) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        refused(&["route", "--text", "Emma", "--weights", path.to_str().unwrap()], says);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn good_input_still_works() {
    let (ok, stdout, stderr) = modscope(&["route", "--text", "It is a truth", "--capacity", "0.5"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("predictor agrees"), "{stdout}");
}

/// The loading screen's picture (`www/shell.svg`) is what the page will show first: the default
/// text through the 8-bit MoD model the page downloads, drawn by the page's own figure code.
#[test]
fn the_loading_picture_is_the_default_example() {
    let out = std::env::temp_dir().join(format!("modscope-shell-{}.svg", std::process::id()));
    let text = modscope::runtime::options::EXAMPLE_TEXT;
    let (ok, _, stderr) = modscope(&["route", "--weights", "www/models/mod.q8.safetensors", "--text", text, "--svg", out.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let drawn = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/www/shell.svg")).unwrap();
    assert!(drawn == shipped, "www/shell.svg is stale: rerun the command in README.md (The repository)");
}
