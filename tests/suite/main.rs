//! Every integration test but the hostile corpus (which counts allocations with its own global
//! allocator, so it is a binary of its own), in one binary: burn and wgpu are linked once.

#[path = "../common/mod.rs"]
mod common;

mod backend;
mod batch;
mod bench;
mod cli;
mod codec;
mod compact;
mod engine;
mod golden;
mod imports;
mod job;
mod metadata;
mod model;
mod own_models;
mod pipeline;
mod protocol;
mod readme;
mod regression;
mod route;
mod torch_files;
mod train;
