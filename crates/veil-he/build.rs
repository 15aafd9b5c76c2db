//! Compiles the `.proto` files with `protox` (pure Rust, no system `protoc`), then generates
//! the prost messages and tonic services.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/veil/he/v1/inference.proto"];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
