//! Compiles `proto/` into Rust (tonic + prost) without a system `protoc`: `protox` parses the
//! files into a descriptor set, which is both handed to `tonic-prost-build` and written to
//! `OUT_DIR/blackant_descriptor.bin` for gRPC server reflection.

use prost::Message;
use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "proto/blackant/v1/sync.proto",
    "proto/blackant/v1/admin.proto",
    "proto/blackant/v1/orders.proto",
    "proto/blackant/v1/data.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(PROTOS, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("blackant_descriptor.bin"), fds.encode_to_vec())?;
    let mut config = tonic_prost_build::configure();
    // The replicas' rows print as JSON in `blackant ctl --json` (no well-known types in them).
    for message in [
        "Customer",
        "Product",
        "Price",
        "Order",
        "ReplicaOrderLine",
        "Ddt",
        "Invoice",
    ] {
        config = config.type_attribute(
            format!("blackant.v1.{message}"),
            "#[derive(serde::Serialize)]",
        );
    }
    config
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
