//! Release binaries for the aarch64 boards are linked without unwind tables.
//!
//! Release builds abort on panic (`panic = "abort"`), so nothing ever
//! unwinds, yet the precompiled std still brings `.eh_frame`,
//! `.eh_frame_hdr` and `.gcc_except_table`: about 195 KB of the static
//! aarch64 binary, an eighth of it. When that binary is linked by rust-lld
//! (`.cargo/config.toml`), a small linker script drops those sections.
//!
//! Only the `ctibridge` binary of a release build gets the script
//! (`rustc-link-arg-bins`): test binaries unwind to report failures, and
//! other linkers (cross's images) keep their default layout. A panic in
//! such a binary still prints its message and aborts, as before; only a
//! `RUST_BACKTRACE` backtrace comes out empty.

use std::env;
use std::fs;
use std::path::PathBuf;

/// Sections dropped from the release binary: unwind tables and the
/// exception tables that point into them.
const DISCARD_UNWIND: &str = "SECTIONS { /DISCARD/ : { *(.eh_frame) *(.eh_frame_hdr) \
                              *(.gcc_except_table) } } INSERT AFTER .text;\n";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let var = |k: &str| env::var(k).unwrap_or_default();
    let lld = var("RUSTC_LINKER").ends_with("rust-lld");
    if var("TARGET") != "aarch64-unknown-linux-musl" || var("PROFILE") != "release" || !lld {
        return;
    }
    let script = PathBuf::from(var("OUT_DIR")).join("discard-unwind.ld");
    if fs::write(&script, DISCARD_UNWIND).is_err() {
        println!(
            "cargo:warning=could not write {}: unwind tables kept",
            script.display()
        );
        return;
    }
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
}
