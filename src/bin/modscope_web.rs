//! The browser app's entry point (built by trunk with `--features web`).

// wasm-ld links a binary as a wasm *command*: unless something calls `__wasm_call_ctors`
// explicitly, it wraps every export so each JS→wasm call (every event handler, every future
// poll) first re-runs all static constructors (here the `inventory` registrations that
// cubecl-core pulls in). Calling it once here makes the linker drop those wrappers; the bundle
// build checks that none are left.
#[cfg(target_arch = "wasm32")]
unsafe extern "C" {
    fn __wasm_call_ctors();
}

fn main() {
    // SAFETY: runs the module's static constructors exactly once, before anything else.
    #[cfg(target_arch = "wasm32")]
    unsafe {
        __wasm_call_ctors()
    };
    modscope::ui::start();
}
