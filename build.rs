//! Records the compiler version, which INFO's `go` field reports (nats-server puts its Go
//! toolchain there).

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=NATRIX_RUSTC_VERSION=rust{version}");
    println!("cargo:rerun-if-changed=build.rs");
}
