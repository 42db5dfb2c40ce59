//! The browser app's entry point (built by trunk with `--features web`).

fn main() {
    modscope::ui::start();
}
