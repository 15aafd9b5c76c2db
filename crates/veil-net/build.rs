//! Compiles the `.proto` files with `protox` (pure Rust), so that no system `protoc` is
//! needed, then generates the prost messages and tonic services from the descriptors.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/veil/net/v1/probe.proto"];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
