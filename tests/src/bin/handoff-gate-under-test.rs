//! The gate's `main`, built by this package so the Cloud Run rehearsal can
//! run it as the ingress container of a gated service without
//! `CLOUD_RUN_BINARIES`, at a path Cargo provides.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    gate::serve_from_env().await
}
