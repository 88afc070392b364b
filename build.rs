//! Sets the shared library's SONAME (`libcustodian.so.<major>`) on Linux.
//! It never runs cbindgen: the header is committed and checked by a test.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the package version");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libcustodian.so.{major}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
